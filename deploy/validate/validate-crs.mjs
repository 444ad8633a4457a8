// Validate custom resources (JSON array on stdin) against their operators' JSON Schemas,
// as packaged by kubernetes-models. Prints one line per resource; exits 1 on any failure.
import fs from "node:fs";

const PACKAGES = {
  "kafka.strimzi.io": "@kubernetes-models/strimzi-kafka-operator",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "keda.sh": "@kubernetes-models/keda",
  "postgresql.cnpg.io": "@kubernetes-models/cloudnative-pg",
};

const docs = JSON.parse(fs.readFileSync(0, "utf8"));
let failed = 0;
for (const doc of docs) {
  const [group, version] = doc.apiVersion.split("/");
  const name = `${doc.kind}/${doc.metadata?.name} (${doc.apiVersion})`;
  const pkg = PACKAGES[group];
  if (!pkg) {
    console.log(`NO SCHEMA ${name}`);
    failed++;
    continue;
  }
  try {
    const module = await import(`${pkg}/${group}/${version}/${doc.kind}`);
    new module[doc.kind](doc).validate();
    console.log(`ok ${name}`);
  } catch (error) {
    console.log(`INVALID ${name}: ${error.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
