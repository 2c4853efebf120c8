// The workflow page: the spec editor, its graph preview, Save, and the Run form.

import { ensureSyntaxTree } from "@codemirror/language";
import { request } from "../api.js";
import { createEditor, revealError } from "../editor.js";
import { debounce, escapeHTML } from "../format.js";
import { JobGraph } from "../graph.js";
import { specFacts } from "../yaml-doc.js";

const PREVIEW_DELAY_MS = 250;
const TREE_BUDGET_MS = 200;

const page = document.getElementById("workflow-page");
const urls = page.dataset;
let savedText = JSON.parse(document.getElementById("spec-text").textContent);
let schema = null;
let facts = { jobs: [], inputs: [], value: {} };
let lastErrors = [];

const saveButton = document.getElementById("save-button");
const saveState = document.getElementById("save-state");
const validity = document.getElementById("validity");
const problems = document.getElementById("problems");
const problemList = document.getElementById("problem-list");
const problemCount = document.getElementById("problem-count");
const graphSummary = document.getElementById("graph-summary");

const graph = new JobGraph(document.getElementById("preview-graph"), {
  showPhase: false,
  onSelect: (name) => {
    const job = facts.jobs.find((candidate) => candidate.name === name);
    if (!job) return;
    editor.dispatch({ selection: { anchor: job.from }, scrollIntoView: true });
    editor.focus();
  },
});

function setValidity(kind, text) {
  validity.className = `validity validity-${kind}`;
  validity.textContent = text;
}

function showProblems(errors) {
  lastErrors = errors;
  problems.hidden = errors.length === 0;
  problemCount.textContent = String(errors.length);
  problemList.innerHTML = errors
    .map(
      (error, index) =>
        `<li><button type="button" class="problem" data-index="${index}">` +
        `<span class="problem-where">Line ${error.line}:${error.column}</span>` +
        `<span class="problem-message">${escapeHTML(error.message)}` +
        (error.hint ? ` <span class="problem-hint">${escapeHTML(error.hint)}</span>` : "") +
        `</span>${error.path ? `<span class="problem-path">${escapeHTML(error.path)}</span>` : ""}</button></li>`,
    )
    .join("");
  const broken = new Set(
    errors.map((error) => error.path?.match(/^jobs\.([A-Za-z0-9_-]+)/)?.[1]).filter(Boolean),
  );
  graph.markErrors(broken);
}

problemList.addEventListener("click", (event) => {
  const button = event.target.closest("[data-index]");
  if (button) revealError(editor, lastErrors[Number(button.dataset.index)]);
});

async function validate(text) {
  try {
    return await request(urls.validateUrl, { method: "POST", body: { spec: text } });
  } catch (error) {
    if (error.status === 400 || error.status === 413) {
      return { valid: false, errors: error.body.errors ?? [{ line: 1, column: 1, path: "", message: error.message }] };
    }
    throw error;
  }
}

function onValidated(result) {
  if (result.failure) {
    setValidity("unknown", "Cannot check right now");
    return;
  }
  const count = result.errors.length;
  setValidity(result.valid ? "valid" : "invalid", result.valid ? "Valid" : `${count} problem${count === 1 ? "" : "s"}`);
  showProblems(result.errors);
}

function refreshPreview(state) {
  const text = state.doc.toString();
  const tree = ensureSyntaxTree(state, state.doc.length, TREE_BUDGET_MS);
  if (!tree) return;
  facts = specFacts(tree, text);
  graph.draw(facts.jobs);
  graph.markErrors(
    new Set(lastErrors.map((error) => error.path?.match(/^jobs\.([A-Za-z0-9_-]+)/)?.[1]).filter(Boolean)),
  );
  const edges = facts.jobs.reduce((sum, job) => sum + job.needs.length, 0);
  graphSummary.textContent = `${facts.jobs.length} job${facts.jobs.length === 1 ? "" : "s"} · ${edges} need${edges === 1 ? "" : "s"}`;
}

const schedulePreview = debounce(refreshPreview, PREVIEW_DELAY_MS);

function onChange(state) {
  setValidity("pending", "Checking…");
  const dirty = state.doc.toString() !== savedText;
  saveButton.disabled = !dirty;
  saveState.textContent = dirty ? "Unsaved changes" : "";
  schedulePreview(state);
}

const editor = createEditor(document.getElementById("editor"), {
  text: savedText,
  validate,
  onValidated,
  onChange,
  getSchema: () => schema,
});
refreshPreview(editor.state);
request(urls.schemaUrl)
  .then((loaded) => (schema = loaded))
  .catch(() => (schema = null));

saveButton.addEventListener("click", async () => {
  const text = editor.state.doc.toString();
  saveButton.disabled = true;
  saveState.textContent = "Saving…";
  try {
    await request(urls.specUrl, { method: "PUT", body: { spec: text } });
    savedText = text;
    saveState.textContent = "Saved as the default spec";
  } catch (error) {
    saveButton.disabled = false;
    saveState.textContent = error.status === 400 ? "Not saved: fix the problems first" : `Not saved: ${error.message}`;
  }
});

// -- the Run form --------------------------------------------------------------------

const dialog = document.getElementById("run-dialog");
const form = document.getElementById("run-form");
const inputsBox = document.getElementById("run-inputs");
const runErrors = document.getElementById("run-errors");
const submit = document.getElementById("run-submit");

function inputField(input) {
  const id = `run-input-${input.name}`;
  const isDataset = input.type === "dataset";
  const hint = isDataset ? "dataset name, name:version or id" : input.type === "volume" ? "volume" : "text";
  const value = input.default ?? "";
  return (
    `<label class="field" for="${escapeHTML(id)}"><span><span class="mono">${escapeHTML(input.name)}</span> ` +
    `<span class="tag">${escapeHTML(input.type)}</span>${input.default == null ? ' <span class="tag tag-warn">required</span>' : ""}</span>` +
    `<input id="${escapeHTML(id)}" data-input="${escapeHTML(input.name)}" data-type="${escapeHTML(input.type)}" ` +
    `data-default="${escapeHTML(value)}" value="${escapeHTML(value)}" placeholder="${escapeHTML(hint)}"` +
    `${input.default == null && input.type !== "volume" ? " required" : ""}${input.type === "volume" ? " disabled" : ""}></label>`
  );
}

function openRunForm() {
  refreshPreview(editor.state);
  const fields = facts.inputs.map(inputField).join("");
  inputsBox.querySelectorAll("label").forEach((label) => label.remove());
  inputsBox.querySelector("[data-empty]").hidden = facts.inputs.length > 0;
  inputsBox.insertAdjacentHTML("beforeend", fields);
  runErrors.hidden = true;
  submit.disabled = false;
  dialog.showModal();
  (inputsBox.querySelector("input:not([disabled])") ?? submit).focus();
}

function runInputs() {
  const values = {};
  for (const field of inputsBox.querySelectorAll("[data-input]")) {
    if (field.disabled) continue;
    const changed = field.value !== field.dataset.default || field.required;
    if (!changed) continue;
    values[field.dataset.input] = field.dataset.type === "dataset" ? { ref: field.value } : { value: field.value };
  }
  return values;
}

function showRunErrors(error) {
  const errors = error.body?.errors ?? [];
  const items = errors.length
    ? errors.map(
        (e) =>
          `<li class="problem-static"><span class="problem-where">${e.document === "inputs" ? "inputs" : `Line ${e.line}:${e.column}`}</span>` +
          `<span class="problem-message">${escapeHTML(e.message)}</span></li>`,
      )
    : [`<li class="problem-static"><span class="problem-message">${escapeHTML(error.message)}</span></li>`];
  runErrors.innerHTML = items.join("");
  runErrors.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  submit.disabled = true;
  try {
    const run = await request(urls.runsUrl, {
      method: "POST",
      body: {
        spec: editor.state.doc.toString(),
        inputs: runInputs(),
        clusterId: document.getElementById("run-cluster").value || null,
        markDefault: document.getElementById("run-mark-default").checked,
      },
    });
    window.location.assign(`${urls.runUrlBase}${run.number}/`);
  } catch (error) {
    showRunErrors(error);
    submit.disabled = false;
  }
});

for (const closer of dialog.querySelectorAll("[data-close]")) {
  closer.addEventListener("click", () => dialog.close());
}
document.getElementById("run-button").addEventListener("click", openRunForm);
