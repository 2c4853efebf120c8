// Reads the editor's YAML syntax tree (Lezer, error-tolerant) into plain values, so the
// graph preview, the run form and completion see the spec while it is being typed.

function children(node) {
  const found = [];
  for (let child = node.firstChild; child; child = child.nextSibling) found.push(child);
  return found;
}

function unquote(raw) {
  if (raw.startsWith("'")) return raw.slice(1, raw.endsWith("'") && raw.length > 1 ? -1 : undefined).replace(/''/g, "'");
  try {
    return JSON.parse(raw.endsWith('"') && raw.length > 1 ? raw : `${raw}"`);
  } catch {
    return raw.slice(1, -1);
  }
}

function blockLiteral(node, text) {
  const content = node.getChild("BlockLiteralContent");
  if (!content) return "";
  const lines = text.slice(content.from, content.to).split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.match(/^ */)[0].length));
  return lines.map((l) => l.slice(Number.isFinite(indent) ? indent : 0)).join("\n");
}

/** The value part of a Pair (or Item) node, or null when it has none. */
export function valueNode(pair) {
  for (const child of children(pair)) {
    if (child.name !== "Key" && child.name !== ":" && child.name !== "-" && child.name !== "Comment") return child;
  }
  return null;
}

export function keyText(pair, text) {
  const key = pair.getChild("Key");
  if (!key) return null;
  const inner = key.firstChild;
  if (!inner) return text.slice(key.from, key.to).trim();
  return scalar(inner, text);
}

function scalar(node, text) {
  const raw = text.slice(node.from, node.to);
  if (node.name === "QuotedLiteral") return unquote(raw);
  if (node.name === "BlockLiteral") return blockLiteral(node, text);
  return raw.replace(/\s*\n\s*/g, " ").trim();
}

/** [{key, keyNode, node}] of a mapping node (block or flow). */
export function pairsOf(mapping, text) {
  if (!mapping || (mapping.name !== "BlockMapping" && mapping.name !== "FlowMapping")) return [];
  return children(mapping)
    .filter((child) => child.name === "Pair")
    .map((pair) => ({ key: keyText(pair, text), keyNode: pair.getChild("Key"), node: valueNode(pair) }))
    .filter((entry) => entry.key != null);
}

/** The value of a node as plain JS: objects, arrays, strings (null for an empty value). */
export function valueOf(node, text) {
  if (!node) return null;
  switch (node.name) {
    case "BlockMapping":
    case "FlowMapping": {
      const result = {};
      for (const { key, node: value } of pairsOf(node, text)) result[key] = valueOf(value, text);
      return result;
    }
    case "BlockSequence":
    case "FlowSequence":
      return children(node)
        .filter((child) => child.name === "Item")
        .map((item) => valueOf(valueNode(item), text));
    case "Anchored":
    case "Tagged":
      return valueOf(node.lastChild, text);
    case "Literal":
    case "QuotedLiteral":
    case "BlockLiteral":
      return scalar(node, text);
    default:
      return null;
  }
}

/** The document's top-level mapping node, or null. */
export function rootMapping(tree) {
  const documentNode = tree.topNode.getChild("Document");
  if (!documentNode) return null;
  return children(documentNode).find((c) => c.name === "BlockMapping" || c.name === "FlowMapping") ?? null;
}

function asList(value) {
  if (Array.isArray(value)) return value.filter((item) => typeof item === "string");
  if (typeof value === "string" && value) return [value];
  return [];
}

function isMapping(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * What the editor needs to know of a spec: its jobs (name, needs, uses, outputs, where the
 * job's key is) and its workflow inputs (name, type, default).
 */
export function specFacts(tree, text) {
  const root = rootMapping(tree);
  const top = pairsOf(root, text);
  const value = valueOf(root, text) ?? {};
  const jobsEntry = top.find((entry) => entry.key === "jobs");
  const jobs = pairsOf(jobsEntry?.node, text).map(({ key, keyNode, node }) => {
    const job = valueOf(node, text);
    const body = isMapping(job) ? job : {};
    return {
      name: key,
      from: keyNode.from,
      needs: asList(body.needs),
      uses: typeof body.uses === "string" ? body.uses : "",
      outputs: isMapping(body.outputs) ? Object.keys(body.outputs) : [],
      inputs: isMapping(body.inputs) ? body.inputs : {},
    };
  });
  const inputs = isMapping(value.inputs)
    ? Object.entries(value.inputs).map(([name, spec]) => {
        const body = isMapping(spec) ? spec : {};
        const given = isMapping(body.with) ? body.with : null;
        return {
          name,
          type: typeof body.type === "string" ? body.type : "string",
          default: given ? (given.value ?? given.ref ?? given.id ?? null) : null,
        };
      })
    : [];
  return { value, jobs, inputs };
}

/** Every job that `name` needs, directly or through others (cycles tolerated). */
export function upstreamOf(jobs, name) {
  const byName = new Map(jobs.map((job) => [job.name, job]));
  const seen = new Set();
  const stack = [...(byName.get(name)?.needs ?? [])];
  while (stack.length) {
    const next = stack.pop();
    if (seen.has(next) || next === name || !byName.has(next)) continue;
    seen.add(next);
    stack.push(...byName.get(next).needs);
  }
  return seen;
}
