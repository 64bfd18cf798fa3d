"""Helpers the chart tests run with the venv's Python (scripts/bootstrap creates .venv).

  manifests.py to-json FILE...
      Prints {"FILE": [object, ...], ...}: every YAML document of each file (empty ones dropped).
  manifests.py validate SCHEMA_DIR VERSION[,VERSION...] FILE...
      Validates every object of the files against the Kubernetes schemas of each version, strictly
      (unknown fields are errors), with kubernetes-validate; custom resources against the JSON
      Schemas in SCHEMA_DIR. Prints one JSON result per object and version; exits 1 if any failed.
"""

import json
import os
import sys

import jsonschema
import kubernetes_validate
import yaml


def load(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def to_json(files):
    json.dump({path: load(path) for path in files}, sys.stdout)


def crd_schema(schema_dir, obj):
    api = obj.get("apiVersion", "")
    group, _, version = api.rpartition("/")
    name = "%s-%s-%s.json" % (obj.get("kind", "").lower(), group, version)
    path = os.path.join(schema_dir, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def validate(schema_dir, versions, files):
    failed = 0
    for path in files:
        for obj in load(path):
            ref = "%s/%s" % (obj.get("kind"), (obj.get("metadata") or {}).get("name"))
            for version in versions:
                result = {"file": path, "object": ref, "version": version, "ok": True, "by": "kubernetes-validate"}
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.SchemaNotFoundError:
                    schema = crd_schema(schema_dir, obj)
                    result["by"] = "crd-schema"
                    if schema is None:
                        result.update(ok=False, error="no schema for %s %s" % (obj.get("apiVersion"), obj.get("kind")))
                    else:
                        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(obj), key=str)
                        if errors:
                            e = errors[0]
                            where = "/".join(str(p) for p in e.absolute_path)
                            result.update(ok=False, error="%s: %s" % (where, e.message))
                except kubernetes_validate.ValidationError as e:
                    where = "/".join(str(p) for p in e.path)
                    result.update(ok=False, error="%s: %s" % (where, e.message))
                if not result["ok"]:
                    failed += 1
                print(json.dumps(result))
    return 1 if failed else 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "to-json":
        to_json(argv[1:])
        return 0
    if len(argv) >= 4 and argv[0] == "validate":
        return validate(argv[1], argv[2].split(","), argv[3:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
