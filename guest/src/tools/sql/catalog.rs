//! What there is to query: databases, tables and their columns (Glue's catalog through Glue,
//! other catalogs through Athena's metadata calls), and a bucket's Tabulator tables as the
//! registry configures them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{default_catalog, is_glue, name_argument, token_argument};
use crate::athena::{AthenaError, Service};
use crate::registry_api::RegistryApi;
use crate::tools::{Effect, Entry, Env, ToolError, entry};

pub fn databases_entry() -> Entry {
    entry(
        "athena_databases_list",
        "List SQL databases",
        "Lists the databases of an Athena data catalog (Glue's AwsDataCatalog by default, or the Tabulator catalog, whose databases are buckets), as you.",
        Effect::Read,
        databases,
    )
}

pub fn tables_entry() -> Entry {
    entry(
        "athena_tables_list",
        "List SQL tables",
        "Lists the tables of a database in an Athena data catalog, with each table's location and number of columns; table_pattern filters names (a regular expression, or * as a wildcard).",
        Effect::Read,
        tables,
    )
}

pub fn schema_entry() -> Entry {
    entry(
        "athena_table_schema",
        "Show a table's columns",
        "A table's columns (name, type, comment), partition keys, location and format, from the Glue catalog or another Athena catalog.",
        Effect::Read,
        schema,
    )
}

pub fn tabulator_tables_entry() -> Entry {
    entry(
        "tabulator_tables_list",
        "List a bucket's Tabulator tables",
        "The Tabulator tables the catalog configures for a bucket (each maps packages and files inside them to a SQL table), with their configuration; query them with tabulator_bucket_query.",
        Effect::Read,
        tabulator_tables,
    )
}

#[derive(Deserialize, JsonSchema)]
pub struct DatabasesArgs {
    /// The data catalog.
    #[serde(default = "default_catalog")]
    data_catalog_name: String,
    /// next_token of the previous page.
    #[serde(default)]
    next_token: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Databases {
    data_catalog_name: String,
    databases: Vec<Database>,
    /// Pass as next_token for more; absent on the last page.
    next_token: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct Database {
    name: String,
    description: Option<String>,
}

fn databases(env: &Env<'_>, args: DatabasesArgs) -> Result<Databases, ToolError> {
    let catalog = name_argument(&args.data_catalog_name, "data_catalog_name")?;
    env.check_held_catalog(&catalog, None)?;
    let mut body = json!({"CatalogName": catalog, "MaxResults": 50});
    if let Some(token) = token_argument(&args.next_token)? {
        body["NextToken"] = json!(token);
    }
    let answer: Value = env
        .athena()?
        .call(Service::Athena, "ListDatabases", &body, true)?;
    let databases = list(&answer["DatabaseList"])
        .map(|d| Database {
            name: text(&d["Name"]),
            description: d["Description"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        })
        .collect();
    Ok(Databases {
        data_catalog_name: catalog,
        databases,
        next_token: answer["NextToken"].as_str().map(str::to_owned),
    })
}

#[derive(Deserialize, JsonSchema)]
pub struct TablesArgs {
    /// The database whose tables to list.
    database: String,
    /// The data catalog (AwsDataCatalog is Glue's).
    #[serde(default = "default_catalog")]
    data_catalog_name: String,
    /// Only tables whose whole name matches this regular expression (`*` alone is a wildcard).
    #[serde(default)]
    table_pattern: String,
    /// next_token of the previous page.
    #[serde(default)]
    next_token: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Tables {
    data_catalog_name: String,
    database: String,
    tables: Vec<TableSummary>,
    next_token: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct TableSummary {
    name: String,
    table_type: Option<String>,
    /// Where its data is (`s3://…`).
    location: Option<String>,
    columns: usize,
}

fn tables(env: &Env<'_>, args: TablesArgs) -> Result<Tables, ToolError> {
    let catalog = name_argument(&args.data_catalog_name, "data_catalog_name")?;
    let database = name_argument(&args.database, "database")?;
    env.check_held_catalog(&catalog, Some(&database))?;
    let token = token_argument(&args.next_token)?;
    let pattern = args.table_pattern.trim();
    if pattern.len() > 255 {
        return Err(ToolError::Argument {
            name: "table_pattern",
            problem: "is longer than 255 characters".into(),
        });
    }
    let athena = env.athena()?;
    let (answer, list_field): (Value, &str) = if is_glue(&catalog) {
        let mut body = json!({"DatabaseName": database, "MaxResults": 100});
        add(
            &mut body,
            "Expression",
            (!pattern.is_empty()).then_some(pattern),
        );
        add(&mut body, "NextToken", token.as_deref());
        (
            athena.call(Service::Glue, "GetTables", &body, true)?,
            "TableList",
        )
    } else {
        let mut body = json!({"CatalogName": catalog, "DatabaseName": database, "MaxResults": 50});
        add(
            &mut body,
            "Expression",
            (!pattern.is_empty()).then_some(pattern),
        );
        add(&mut body, "NextToken", token.as_deref());
        let answer = athena.call(Service::Athena, "ListTableMetadata", &body, true)?;
        (answer, "TableMetadataList")
    };
    let tables = list(&answer[list_field])
        .map(|t| {
            let described = Described::of(t);
            TableSummary {
                name: text(&t["Name"]),
                table_type: t["TableType"].as_str().map(str::to_owned),
                location: described.location,
                columns: described.columns.len(),
            }
        })
        .collect();
    Ok(Tables {
        data_catalog_name: catalog,
        database,
        tables,
        next_token: answer["NextToken"].as_str().map(str::to_owned),
    })
}

#[derive(Deserialize, JsonSchema)]
pub struct SchemaArgs {
    /// The table's database.
    database: String,
    /// The table's name.
    table: String,
    /// The data catalog (AwsDataCatalog is Glue's).
    #[serde(default = "default_catalog")]
    data_catalog_name: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Schema {
    data_catalog_name: String,
    database: String,
    table: String,
    columns: Vec<ColumnInfo>,
    partition_keys: Vec<ColumnInfo>,
    location: Option<String>,
    /// The data's format as the catalog classifies it (csv, parquet, json…).
    format: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ColumnInfo {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    comment: Option<String>,
}

fn schema(env: &Env<'_>, args: SchemaArgs) -> Result<Schema, ToolError> {
    let catalog = name_argument(&args.data_catalog_name, "data_catalog_name")?;
    let database = name_argument(&args.database, "database")?;
    let table = name_argument(&args.table, "table")?;
    env.check_held_catalog(&catalog, Some(&database))?;
    let athena = env.athena()?;
    let (mut answer, field): (Value, &str) = if is_glue(&catalog) {
        let body = json!({"DatabaseName": database, "Name": table});
        (
            athena.call(Service::Glue, "GetTable", &body, true)?,
            "Table",
        )
    } else {
        let body = json!({"CatalogName": catalog, "DatabaseName": database, "TableName": table});
        let answer = athena.call(Service::Athena, "GetTableMetadata", &body, true)?;
        (answer, "TableMetadata")
    };
    let answer = answer[field].take();
    if answer.is_null() {
        return Err(ToolError::Athena(AthenaError::NotFound {
            service: Service::Athena,
            message: format!("no table {table} in {catalog}.{database}"),
        }));
    }
    let described = Described::of(&answer);
    Ok(Schema {
        data_catalog_name: catalog,
        database,
        table,
        columns: described.columns,
        partition_keys: columns(&answer["PartitionKeys"]),
        location: described.location,
        format: described.format,
    })
}

/// What a Glue `Table` or an Athena `TableMetadata` says of a table (Athena flattens Glue's
/// storage descriptor into parameters).
struct Described {
    columns: Vec<ColumnInfo>,
    location: Option<String>,
    format: Option<String>,
}

impl Described {
    fn of(table: &Value) -> Self {
        let storage = &table["StorageDescriptor"];
        let parameters = &table["Parameters"];
        let columns = if storage.is_object() {
            columns(&storage["Columns"])
        } else {
            columns(&table["Columns"])
        };
        let location = storage["Location"]
            .as_str()
            .or(parameters["location"].as_str())
            .map(str::to_owned);
        Self {
            columns,
            location,
            format: parameters["classification"].as_str().map(str::to_owned),
        }
    }
}

fn columns(list_value: &Value) -> Vec<ColumnInfo> {
    list(list_value)
        .map(|c| ColumnInfo {
            name: text(&c["Name"]),
            kind: text(&c["Type"]),
            comment: c["Comment"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        })
        .collect()
}

#[derive(Deserialize, JsonSchema)]
pub struct TabulatorArgs {
    /// The bucket (`name` or `s3://name`).
    bucket: String,
}

#[derive(Serialize, JsonSchema)]
pub struct TabulatorTables {
    bucket: String,
    /// The Athena catalog to query them in (its database is the bucket); none when this
    /// deployment has no Tabulator catalog.
    data_catalog_name: Option<String>,
    tables: Vec<TabulatorTable>,
}

#[derive(Serialize, JsonSchema)]
pub struct TabulatorTable {
    name: String,
    /// Tabulator's YAML: the schema, the package and logical-key patterns, the parser.
    config: String,
}

const TABULATOR_TABLES: &str =
    "query($name: String!) { bucketConfig(name: $name) { tabulatorTables { name config } } }";

fn tabulator_tables(env: &Env<'_>, args: TabulatorArgs) -> Result<TabulatorTables, ToolError> {
    let bucket = env.bucket_argument(&args.bucket, "bucket")?;
    let registry = RegistryApi::connect(env.context, env.http, "tabulator_tables_list")?;
    let answer = registry.graphql("bucketConfig", TABULATOR_TABLES, json!({"name": bucket}))?;
    let config = &answer["bucketConfig"];
    if config.is_null() {
        return Err(ToolError::Argument {
            name: "bucket",
            problem: format!("the catalog has no bucket {bucket} you may browse"),
        });
    }
    let tables = list(&config["tabulatorTables"])
        .map(|t| TabulatorTable {
            name: text(&t["name"]),
            config: text(&t["config"]),
        })
        .collect();
    Ok(TabulatorTables {
        bucket,
        data_catalog_name: env.context.settings().sql.tabulator_catalog,
        tables,
    })
}

fn list(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn add(body: &mut Value, field: &str, value: Option<&str>) {
    if let Some(value) = value {
        body[field] = json!(value);
    }
}
