//! SQL over the data lake as the caller: the Glue catalog and Quilt's Tabulator tables, their
//! schemas, and queries run in Athena. A query that outlives this call's wait hands back its
//! query execution id; `athena_query_results` continues from it on any replica, since Athena
//! keeps the query and this server keeps nothing.

mod catalog;
mod query;
mod results;

use super::{Entry, Env, ToolError};
use crate::athena::Athena;

pub fn entries() -> Vec<Entry> {
    vec![
        catalog::databases_entry(),
        catalog::tables_entry(),
        catalog::schema_entry(),
        query::execute_entry(),
        query::results_entry(),
        query::validate_entry(),
        catalog::tabulator_tables_entry(),
        query::tabulator_query_entry(),
    ]
}

/// The catalog of Glue's tables in Athena.
const GLUE_CATALOG: &str = "AwsDataCatalog";

fn default_catalog() -> String {
    GLUE_CATALOG.to_owned()
}

fn is_glue(catalog: &str) -> bool {
    catalog.eq_ignore_ascii_case(GLUE_CATALOG)
}

impl Env<'_> {
    fn athena(&self) -> Result<Athena<'_>, ToolError> {
        Athena::connect(self.context, self.http).map_err(ToolError::Athena)
    }

    /// On a connection held to one bucket, the catalogs a call may name: Glue's, whose tables
    /// are read with the held credentials, and the Tabulator catalog only in that bucket's own
    /// database (`database`, where the call names one). Another catalog's connector reads
    /// with its own rights, so its other databases lie beyond the hold.
    fn check_held_catalog(&self, catalog: &str, database: Option<&str>) -> Result<(), ToolError> {
        let Some(held) = self.context.grant().bucket else {
            return Ok(());
        };
        let tabulator = self.context.settings().sql.tabulator_catalog;
        let own_tabulator_database = tabulator
            .as_deref()
            .is_some_and(|tabulator| catalog.eq_ignore_ascii_case(tabulator))
            && database.is_some_and(|database| database.eq_ignore_ascii_case(&held));
        if is_glue(catalog) || own_tabulator_database {
            return Ok(());
        }
        Err(ToolError::Argument {
            name: "data_catalog_name",
            problem: format!(
                "this connection is held to the bucket {held}: it reads the Glue catalog ({GLUE_CATALOG}), and of the Tabulator catalog only the database {held}; query {held}'s Tabulator tables with tabulator_bucket_query"
            ),
        })
    }
}

/// A catalog, database, table or workgroup name: AWS allows at most 255 characters; none of
/// them holds a control character.
fn name_argument(value: &str, name: &'static str) -> Result<String, ToolError> {
    let value = value.trim();
    if value.is_empty() || value.len() > 255 || value.chars().any(char::is_control) {
        return Err(ToolError::Argument {
            name,
            problem: "must be a name of 1 to 255 characters without control characters".into(),
        });
    }
    Ok(value.to_owned())
}

/// A `next_token` as the services give them: opaque, but bounded.
fn token_argument(value: &str) -> Result<Option<String>, ToolError> {
    match value.trim() {
        "" => Ok(None),
        token if token.len() <= 2048 && !token.chars().any(char::is_control) => {
            Ok(Some(token.to_owned()))
        }
        _ => Err(ToolError::Argument {
            name: "next_token",
            problem: "is not a next_token this tool gave".into(),
        }),
    }
}
