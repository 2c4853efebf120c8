// Completion for the spec editor: keys, action names and each action's `with` parameters
// from the language's JSON Schema; `needs` and `JOB.outputs.NAME` from the document itself.

import { syntaxTree } from "@codemirror/language";
import { specFacts, upstreamOf } from "./yaml-doc.js";

const KEY_LINE = /^((?:-\s+)*)([A-Za-z0-9_.@-]+|"[^"]*"|'[^']*'):(?:\s+(.*))?$/;
const WORD_BEFORE = /[A-Za-z0-9_.@:/-]*$/;

function indentOf(text) {
  return text.match(/^ */)[0].length;
}

function bare(key) {
  return key.replace(/^["']|["']$/g, "");
}

/**
 * Where the cursor is in the YAML outline, read from indentation (robust while typing):
 * {path: keys of the enclosing mappings ("[]" for a list item), mode: "key" | "value",
 *  key: the key whose value is being typed}.
 */
export function cursorContext(doc, pos) {
  const line = doc.lineAt(pos);
  const before = line.text.slice(0, pos - line.from);
  const [, lead, dashes, rest] = before.match(/^( *)((?:-\s+)*)(.*)$/);
  const path = [];
  let mode = "key";
  let key = null;
  let inList = dashes.length > 0;
  const keyed = rest.match(/^([A-Za-z0-9_.@-]+|"[^"]*"|'[^']*'):\s(.*)$/);
  if (keyed) {
    mode = "value";
    key = bare(keyed[1]);
    const value = keyed[2];
    if (value.lastIndexOf("[") > value.lastIndexOf("]")) inList = true;
  } else if (inList) {
    mode = "value";
  }
  // A list may sit at its key's own indentation ("needs:\n- a"): then the first parent
  // may be a key line as far left as the dash.
  let sameIndentParent = dashes.length > 0 && !keyed;
  let limit = lead.length;
  for (let number = line.number - 1; number >= 1 && limit > 0; number -= 1) {
    const text = doc.line(number).text;
    const content = text.trim();
    if (!content || content.startsWith("#")) continue;
    const indent = indentOf(text);
    const match = content.match(KEY_LINE);
    const opensBlock = match && !(match[3] ?? "").replace(/#.*$/, "").trim();
    const parentHere = indent < limit || (sameIndentParent && indent === limit && opensBlock && !match[1]);
    if (!parentHere) continue;
    sameIndentParent = false;
    if (opensBlock) {
      path.unshift(bare(match[2]));
      if (match[1]) path.unshift("[]");
    } else if (content.startsWith("-")) {
      path.unshift("[]");
    }
    limit = indent;
  }
  if (mode === "value" && key !== null) path.push(key);
  if (inList && mode === "value") path.push("[]");
  return { path, mode, key };
}

function deref(schema, root) {
  let current = schema;
  for (let hops = 0; current && current.$ref && hops < 20; hops += 1) {
    current = root.$defs?.[current.$ref.split("/").pop()];
  }
  return current ?? {};
}

function conditionHolds(condition, actual) {
  if (!actual || typeof actual !== "object") return false;
  for (const name of condition.required ?? []) if (!(name in actual)) return false;
  for (const [name, rule] of Object.entries(condition.properties ?? {})) {
    if ("const" in rule && actual[name] !== rule.const) return false;
  }
  return true;
}

/** The schema and every branch that applies to `actual` (allOf if/then, anyOf, oneOf). */
function expand(schema, root, actual, depth = 0) {
  const resolved = deref(schema, root);
  if (depth > 8) return [resolved];
  const found = [resolved];
  for (const part of resolved.allOf ?? []) {
    if (part.if) {
      if (conditionHolds(part.if, actual)) found.push(...expand(part.then ?? {}, root, actual, depth + 1));
    } else {
      found.push(...expand(part, root, actual, depth + 1));
    }
  }
  for (const part of [...(resolved.anyOf ?? []), ...(resolved.oneOf ?? [])]) {
    found.push(...expand(part, root, actual, depth + 1));
  }
  return found;
}

function schemasAt(root, path, document) {
  let schemas = expand(root, root, document);
  let actual = document;
  for (const part of path) {
    const next = [];
    if (part === "[]") {
      actual = undefined;
      for (const schema of schemas) if (schema.items) next.push(schema.items);
    } else {
      actual = actual && typeof actual === "object" ? actual[part] : undefined;
      for (const schema of schemas) {
        if (schema.properties?.[part]) next.push(schema.properties[part]);
        else if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
          next.push(schema.additionalProperties);
        }
      }
    }
    schemas = next.flatMap((schema) => expand(schema, root, actual));
  }
  return { schemas, actual };
}

function describe(schema, root) {
  return schema.description ?? deref(schema, root).description ?? "";
}

function isObjectSchema(schema, root) {
  const resolved = deref(schema, root);
  const type = resolved.type;
  return type === "object" || (Array.isArray(type) && type[0] === "object") || !!resolved.additionalProperties && !type;
}

function keyOptions(root, path, document, childIndent) {
  const { schemas, actual } = schemasAt(root, path, document);
  const present = new Set(actual && typeof actual === "object" ? Object.keys(actual) : []);
  const options = new Map();
  for (const schema of schemas) {
    const required = new Set(schema.required ?? []);
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      if (options.has(name) || present.has(name)) continue;
      const nested = isObjectSchema(property, root);
      options.set(name, {
        label: name,
        type: "property",
        detail: required.has(name) ? "required" : undefined,
        info: describe(property, root) || undefined,
        apply: nested ? `${name}:\n${childIndent}` : `${name}: `,
        boost: required.has(name) ? 2 : 0,
      });
    }
  }
  return [...options.values()];
}

function enumOptions(root, path, document) {
  const { schemas } = schemasAt(root, path, document);
  const options = new Map();
  for (const schema of schemas) {
    for (const value of [...(schema.enum ?? []), ...("const" in schema ? [schema.const] : [])]) {
      if (typeof value === "string" && !options.has(value)) {
        options.set(value, { label: value, type: "enum", info: schema.description || undefined });
      }
    }
  }
  return [...options.values()];
}

function referenceOptions(path, facts) {
  const jobName = path[0] === "jobs" ? path[1] : null;
  if (!jobName) return null;
  const field = path[2];
  if (field === "needs") {
    const job = facts.jobs.find((candidate) => candidate.name === jobName);
    const listed = new Set(job?.needs ?? []);
    return facts.jobs
      .filter((candidate) => candidate.name !== jobName && !listed.has(candidate.name))
      .map((candidate) => ({ label: candidate.name, type: "variable", detail: candidate.uses || "job" }));
  }
  if (field === "inputs" && path.length === 4) {
    const upstream = upstreamOf(facts.jobs, jobName);
    const options = facts.inputs.map((input) => ({
      label: `workflow.inputs.${input.name}`,
      type: "variable",
      detail: input.type,
    }));
    for (const job of facts.jobs) {
      if (!upstream.has(job.name)) continue;
      for (const output of job.outputs) {
        options.push({ label: `${job.name}.outputs.${output}`, type: "variable", detail: "output" });
      }
    }
    return options;
  }
  return null;
}

/** A CodeMirror completion source backed by the JSON Schema (fetched once by the caller). */
export function specCompletion(getSchema) {
  return (context) => {
    const word = context.matchBefore(WORD_BEFORE);
    if (!context.explicit && (!word || word.from === word.to)) return null;
    const schema = getSchema();
    const state = context.state;
    const where = cursorContext(state.doc, context.pos);
    const text = state.doc.toString();
    const facts = specFacts(syntaxTree(state), text);
    let options;
    if (where.mode === "key") {
      if (!schema) return null;
      const line = state.doc.lineAt(context.pos);
      const childIndent = " ".repeat(line.text.match(/^[ -]*/)[0].length + 2);
      options = keyOptions(schema, where.path, facts.value, childIndent);
    } else {
      options = referenceOptions(where.path, facts) ?? (schema ? enumOptions(schema, where.path, facts.value) : []);
    }
    if (!options.length) return null;
    return { from: word ? word.from : context.pos, options, validFor: /^[A-Za-z0-9_.@:/-]*$/ };
  };
}
