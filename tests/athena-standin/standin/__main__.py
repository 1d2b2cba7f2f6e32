"""`python -m standin --config FILE`: see ../README.md for the configuration."""

import argparse
import json

from .athena import Athena
from .catalog import GlueCatalog
from .identity import Verifier
from .metadata import Catalogs
from .server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="athena-standin", description="A local Amazon Athena + AWS Glue on DataFusion")
    parser.add_argument("--config", required=True, help="the JSON configuration (README.md)")
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    tabulator = None
    if config.get("tabulator"):
        from .tabulator import Tabulator

        tabulator = Tabulator(config["tabulator"], config)
    catalogs = Catalogs(GlueCatalog(config.get("databases", {})), tabulator)
    verifier = Verifier(config["sts"]["issuer"], config["sts"]["signing_key"], config["region"])
    host, _, port = config.get("listen", "127.0.0.1:0").rpartition(":")
    serve(host, int(port), verifier, Athena(config, catalogs), catalogs)


main()
