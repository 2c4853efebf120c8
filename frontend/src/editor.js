// The spec editor: CodeMirror 6 with YAML, line numbers, lint diagnostics from the server's
// validator (debounced as you type) and completion from the language's JSON Schema.

import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { yaml } from "@codemirror/lang-yaml";
import {
  bracketMatching,
  foldGutter,
  foldKeymap,
  HighlightStyle,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { lintGutter, linter, lintKeymap } from "@codemirror/lint";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { EditorState } from "@codemirror/state";
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from "@codemirror/view";
import { tags } from "@lezer/highlight";
import { specCompletion } from "./completion.js";

export const VALIDATE_DELAY_MS = 250;

const highlight = HighlightStyle.define([
  { tag: tags.definition(tags.propertyName), color: "#1d4ed8" },
  { tag: tags.propertyName, color: "#1d4ed8" },
  { tag: tags.string, color: "#047857" },
  { tag: tags.number, color: "#b45309" },
  { tag: tags.bool, color: "#b45309" },
  { tag: tags.null, color: "#b45309" },
  { tag: tags.keyword, color: "#7c3aed" },
  { tag: tags.comment, color: "#6b7280", fontStyle: "italic" },
  { tag: tags.meta, color: "#7c3aed" },
  { tag: tags.labelName, color: "#7c3aed" },
  { tag: tags.typeName, color: "#7c3aed" },
  { tag: tags.punctuation, color: "#6b7280" },
  { tag: tags.separator, color: "#6b7280" },
  { tag: tags.content, color: "#111827" },
]);

const theme = EditorView.theme({
  "&": { height: "100%", fontSize: "13px" },
  ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.55" },
  ".cm-gutters": { background: "#f8fafc", borderRight: "1px solid #e5e7eb", color: "#9ca3af" },
  ".cm-activeLine": { background: "#f5f7ff" },
  ".cm-activeLineGutter": { background: "#eef2ff", color: "#4b5563" },
  ".cm-tooltip-autocomplete ul li[aria-selected]": { background: "#4f46e5" },
});

/** Character offset of a validator error's (1-based) line and column in the document. */
export function offsetOf(doc, line, column) {
  const safeLine = Math.min(Math.max(1, line || 1), doc.lines);
  const target = doc.line(safeLine);
  return Math.min(target.from + Math.max(0, (column || 1) - 1), target.to);
}

function errorRange(doc, error) {
  const from = offsetOf(doc, error.line, error.column);
  const line = doc.lineAt(from);
  const rest = line.text.slice(from - line.from);
  const token = rest.match(/^[^\s:,[\]{}]+/);
  if (token) return { from, to: from + token[0].length };
  const text = line.text;
  const start = line.from + (text.length - text.trimStart().length);
  if (start < line.to) return { from: start, to: line.to };
  return { from, to: from };
}

/**
 * Make an editor in `parent`. validate(text, signal) resolves to {valid, errors}; onValidated
 * gets each answer that still matches the document; getSchema() returns the JSON Schema or null.
 */
export function createEditor(parent, { text, validate, onValidated, onChange, getSchema }) {
  const lintSource = async (view) => {
    const state = view.state;
    const source = state.doc.toString();
    let result;
    try {
      result = await validate(source);
    } catch (error) {
      onValidated?.({ valid: null, errors: [], failure: error }, source);
      return [];
    }
    if (view.state.doc !== state.doc) return [];
    onValidated?.(result, source);
    return result.errors.map((error) => ({
      ...errorRange(state.doc, error),
      severity: "error",
      message: error.hint ? `${error.message} (${error.hint})` : error.message,
      source: error.path || "spec",
    }));
  };
  const state = EditorState.create({
    doc: text,
    extensions: [
      lineNumbers(),
      foldGutter(),
      lintGutter(),
      highlightActiveLineGutter(),
      history(),
      drawSelection(),
      indentOnInput(),
      bracketMatching(),
      closeBrackets(),
      highlightActiveLine(),
      highlightSelectionMatches(),
      indentUnit.of("  "),
      EditorState.tabSize.of(2),
      yaml(),
      syntaxHighlighting(highlight),
      linter(lintSource, { delay: VALIDATE_DELAY_MS }),
      autocompletion({ override: [specCompletion(getSchema)], icons: false }),
      keymap.of([
        ...closeBracketsKeymap,
        ...defaultKeymap,
        ...searchKeymap,
        ...historyKeymap,
        ...foldKeymap,
        ...completionKeymap,
        ...lintKeymap,
        indentWithTab,
      ]),
      theme,
      EditorView.updateListener.of((update) => {
        if (update.docChanged) onChange?.(update.state);
      }),
    ],
  });
  return new EditorView({ state, parent });
}

/** Put the cursor at a validator error and show it. */
export function revealError(view, error) {
  const { from, to } = errorRange(view.state.doc, error);
  view.dispatch({ selection: { anchor: from, head: to }, scrollIntoView: true });
  view.focus();
}
