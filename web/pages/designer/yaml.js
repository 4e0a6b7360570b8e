// The code view's YAML: a small block-style writer. The definition is plain
// JSON data, and any string that might read as something else is written
// JSON-quoted (JSON strings are valid YAML). Reading YAML back is the
// server's job (POST …/design/parse); web/e2e/yaml-roundtrip.test.mjs
// checks that awkward strings come back as they went.
//
// A plain (unquoted) string starts with a letter, "_" or "/": never with
// "." (".5" and ".inf" are numbers), a digit, a sign or an indicator.
const PLAIN = /^[A-Za-z_/][\w ./{}$-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|y|n|~)$/i;

function yamlScalar(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") {
    return PLAIN.test(v) && !RESERVED.test(v) && !v.endsWith(" ") && !v.includes(": ") && !v.includes(" #") ? v : JSON.stringify(v);
  }
  return String(v);
}

function yamlKey(k) {
  return /^[A-Za-z_][\w-]*$/.test(k) && !RESERVED.test(k) ? k : JSON.stringify(k);
}

const isComplex = (v) => v !== null && typeof v === "object" && Object.keys(v).length > 0;

export function toYAML(v, indent = "") {
  if (Array.isArray(v)) {
    if (!v.length) return indent + "[]";
    return v.map((item) => {
      if (!isComplex(item)) return indent + "- " + (Array.isArray(item) ? "[]" : typeof item === "object" && item ? "{}" : yamlScalar(item));
      const body = toYAML(item, indent + "  ");
      return indent + "- " + body.slice(indent.length + 2);
    }).join("\n");
  }
  if (v && typeof v === "object") {
    const keys = Object.keys(v);
    if (!keys.length) return indent + "{}";
    return keys.map((k) => {
      const val = v[k];
      if (isComplex(val)) return `${indent}${yamlKey(k)}:\n${toYAML(val, indent + "  ")}`;
      const flat = Array.isArray(val) ? "[]" : val && typeof val === "object" ? "{}" : yamlScalar(val);
      return `${indent}${yamlKey(k)}: ${flat}`;
    }).join("\n");
  }
  return indent + yamlScalar(v);
}
