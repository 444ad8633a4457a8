// Validate an AsyncAPI document with the AsyncAPI project's own parser; exit 1 on errors.
import fs from "node:fs";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(fs.readFileSync(path, "utf8"));
const errors = diagnostics.filter((d) => d.severity === 0);
for (const d of diagnostics) {
  const level = ["error", "warning", "info", "hint"][d.severity] ?? d.severity;
  console.log(`${level} ${d.code} at ${d.path.join(".")}: ${d.message}`);
}
console.log(
  `${path}: ${errors.length} error(s), ${diagnostics.length - errors.length} other diagnostic(s);` +
    (document ? ` ${document.channels().length} channels, ${document.messages().length} messages` : " not parsed"),
);
process.exit(errors.length || !document ? 1 : 0);
