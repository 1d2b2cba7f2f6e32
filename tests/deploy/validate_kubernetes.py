"""Validates the kustomize base in deploy/kubernetes and prints it as JSON.

Every resource kustomization.yaml lists is checked against Kubernetes' own OpenAPI schemas
(kubernetes-validate, strict: an unknown or misspelt field fails), for the version given.
The resources, with the kustomization's images applied, go to stdout as one JSON object for
the end-to-end trial (tests/tests/e2e/deploy.rs) that checks what the schemas cannot: the
security settings, that the pieces name one another, and that the host starts with them.

usage: validate_kubernetes.py DIR KUBERNETES_VERSION
"""

import json
import pathlib
import sys

import kubernetes_validate
import yaml


def main(directory: str, version: str) -> None:
    base = pathlib.Path(directory)
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    present = sorted(p.name for p in base.glob("*.yaml") if p.name != "kustomization.yaml")
    if sorted(listed) != present:
        sys.exit(f"kustomization.yaml lists {sorted(listed)}, the directory holds {present}")
    resources = []
    for name in listed:
        for resource in yaml.safe_load_all((base / name).read_text()):
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                where = ".".join(str(part) for part in error.absolute_path)
                sys.exit(f"{name}: {where}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError as error:
                sys.exit(f"{name}: no schema for {error.kind} {error.api_version} in Kubernetes {version}")
            resources.append(resource)
    images = {image["name"]: image for image in kustomization.get("images", [])}
    for resource in resources:
        for container in resource.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            image = images.get(container["image"])
            if image:
                container["image"] = f"{image['newName']}:{image['newTag']}"
    json.dump({"kustomization": kustomization, "resources": resources}, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:])
