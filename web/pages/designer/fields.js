// Field values: what the side panel's and the test-run form's fields mean
// as JSON, and where a field's value goes in a step.

// fieldValue reads one side-panel or inputs-form field as the JSON value
// its data-type says; {error} when the text cannot be that, {unset} when
// the field is empty (the key is then removed).
export function fieldValue(input) {
  const raw = input.value;
  const trimmed = raw.trim();
  switch (input.dataset.type) {
    case "int": {
      if (!trimmed) return { unset: true };
      if (!/^-?\d+$/.test(trimmed)) return { error: "Use a whole number, such as 3" };
      return { value: Number(trimmed) };
    }
    case "number": {
      if (!trimmed) return { unset: true };
      const n = Number(trimmed);
      return Number.isFinite(n) ? { value: n } : { error: "Use a number, such as 10 or 2.5" };
    }
    case "duration":
      if (!trimmed) return { unset: true };
      if (/^\d+$/.test(trimmed)) return { value: Number(trimmed) };
      // Go's duration syntax (models.ParseDuration): checked here so that
      // a half-typed value is said next to its field, not sent.
      return /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(trimmed) ? { value: trimmed } : { error: "Use a duration like 30s, 5m or 1h30m" };
    case "json":
      if (!trimmed) return { unset: true };
      try {
        return { value: JSON.parse(trimmed) };
      } catch (e) {
        return { error: "is not valid JSON yet: " + e.message };
      }
    case "headers": {
      if (!trimmed) return { unset: true };
      const out = {};
      for (const line of raw.split("\n")) {
        if (!line.trim()) continue;
        const i = line.indexOf(":");
        if (i <= 0) return { error: `"${line.trim()}" needs the form Name: value` };
        out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      return { value: out };
    }
    case "bool":
      if (!trimmed) return { unset: true };
      return { value: trimmed === "true" };
    default:
      return trimmed === "" ? { unset: true } : { value: raw };
  }
}

// setPath sets (or, for an unset result, removes) the value at a field's
// path: "action.url", "retryPolicy.maxAttempts", "action.cases[1].when".
// An object left empty by a removal goes too, so clearing every retry
// field leaves no retryPolicy behind.
export function setPath(obj, path, result) {
  const keys = path.replace(/\[(\d+)\]/g, ".$1").split(".");
  let at = obj;
  for (const k of keys.slice(0, -1)) {
    if (!at[k] || typeof at[k] !== "object") {
      if (result.unset) return;
      at[k] = {};
    }
    at = at[k];
  }
  const last = keys[keys.length - 1];
  if (!result.unset) {
    at[last] = result.value;
    return;
  }
  if (Array.isArray(at)) at[last] = ""; // keep the other cases in place
  else delete at[last];
  // Remove the objects this emptied, innermost first.
  for (let n = keys.length - 1; n > 0; n--) {
    let parent = obj;
    for (const k of keys.slice(0, n - 1)) parent = parent[k];
    const child = parent[keys[n - 1]];
    if (child && typeof child === "object" && !Array.isArray(child) && Object.keys(child).length === 0) delete parent[keys[n - 1]];
    else break;
  }
}

// inputDefault reads a workflow input's default as the input's type wants
// it (the workflow panel's default column).
export function inputDefault(type, raw) {
  const t = raw.trim();
  if (!t) return { unset: true };
  switch (type) {
    case "number": {
      const n = Number(t);
      return Number.isFinite(n) ? { value: n } : { error: "Use a number, such as 10 or 2.5" };
    }
    case "integer":
      return /^-?\d+$/.test(t) ? { value: Number(t) } : { error: "Use a whole number, such as 3" };
    case "boolean":
      return t === "true" || t === "false" ? { value: t === "true" } : { error: "Use true or false" };
    case "object":
    case "array":
      try {
        const v = JSON.parse(t);
        if (type === "array" ? Array.isArray(v) : v && typeof v === "object" && !Array.isArray(v)) return { value: v };
      } catch { /* said below */ }
      return { error: type === "array" ? 'Use a JSON list, such as ["a", "b"]' : 'Use a JSON object, such as {"a": 1}' };
    default:
      return { value: raw };
  }
}
