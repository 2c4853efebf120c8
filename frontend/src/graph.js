// The job graph: a layered DAG (columns by `needs` depth, rows ordered to cut crossings).
// Edges are two SVG paths; nodes are small HTML boxes with CSS containment, so a phase
// change restyles one box and nodes out of view cost nothing (content-visibility).

import { escapeHTML, formatDuration, secondsBetween } from "./format.js";

const NODE_WIDTH = 208;
const NODE_HEIGHT = 50;
const COLUMN_GAP = 64;
const ROW_GAP = 14;
const PADDING = 16;
const SWEEPS = 4;
const ARROW = 6;
// A spinning icon asks for a new frame 60 times a second; on big graphs that costs more than
// it tells, and running jobs keep their colour and icon without the spin.
const ANIMATED_UP_TO = 300;
// Past this many jobs, each frame that touches the graph costs the browser time in
// proportion to the whole graph, so changes are gathered and drawn a few times a second.
const BATCHED_FROM = 300;
const BATCH_MS = 200;
// Nodes are drawn in tiles of a column's rows; the browser skips tiles out of view
// (content-visibility), which keeps the first paint of a big graph short.
const TILE_ROWS = 16;

/** Columns and rows for jobs [{name, needs}]: {positions: Map(name -> {x, y}), width, height}. */
export function layout(jobs) {
  const index = new Map(jobs.map((job, i) => [job.name, i]));
  const preds = jobs.map(() => []);
  const succs = jobs.map(() => []);
  jobs.forEach((job, i) => {
    for (const need of new Set(job.needs)) {
      const j = index.get(need);
      if (j === undefined || j === i) continue;
      preds[i].push(j);
      succs[j].push(i);
    }
  });
  // Longest path from the sources (Kahn's order); jobs caught in a cycle go last.
  const layer = new Array(jobs.length).fill(0);
  const waiting = preds.map((p) => p.length);
  const queue = [];
  waiting.forEach((count, i) => count === 0 && queue.push(i));
  const placed = new Array(jobs.length).fill(false);
  for (let head = 0; head < queue.length; head += 1) {
    const i = queue[head];
    placed[i] = true;
    for (const k of succs[i]) {
      layer[k] = Math.max(layer[k], layer[i] + 1);
      waiting[k] -= 1;
      if (waiting[k] === 0) queue.push(k);
    }
  }
  let deepest = Math.max(0, ...layer);
  jobs.forEach((_, i) => {
    if (!placed[i]) layer[i] = ++deepest;
  });
  const columns = Array.from({ length: deepest + 1 }, () => []);
  jobs.forEach((_, i) => columns[layer[i]].push(i));
  const row = new Array(jobs.length).fill(0);
  const renumber = (column) => column.forEach((i, r) => (row[i] = r));
  columns.forEach(renumber);
  const reorder = (column, neighbours) => {
    const weight = new Map();
    for (const i of column) {
      const around = neighbours[i];
      weight.set(i, around.length ? around.reduce((sum, j) => sum + row[j], 0) / around.length : row[i]);
    }
    column.sort((a, b) => weight.get(a) - weight.get(b) || row[a] - row[b]);
    renumber(column);
  };
  for (let sweep = 0; sweep < SWEEPS; sweep += 1) {
    for (let c = 1; c < columns.length; c += 1) reorder(columns[c], preds);
    for (let c = columns.length - 2; c >= 0; c -= 1) reorder(columns[c], succs);
  }
  const tallest = Math.max(1, ...columns.map((column) => column.length));
  const positions = new Map();
  columns.forEach((column, c) => {
    const offset = ((tallest - column.length) * (NODE_HEIGHT + ROW_GAP)) / 2;
    column.forEach((i, r) => {
      positions.set(jobs[i].name, {
        x: PADDING + c * (NODE_WIDTH + COLUMN_GAP),
        y: PADDING + offset + r * (NODE_HEIGHT + ROW_GAP),
        column: c,
        row: r,
      });
    });
  });
  const edges = [];
  jobs.forEach((job, i) => preds[i].forEach((j) => edges.push([jobs[j].name, job.name])));
  return {
    positions,
    edges,
    width: PADDING * 2 + columns.length * NODE_WIDTH + (columns.length - 1) * COLUMN_GAP,
    height: PADDING * 2 + tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP,
  };
}

// One path per edge: each has small bounds, so repainting a node re-rasters only the few
// edges near it (one path of every edge would be re-rastered whole for any change).
function edgesSVG(edges, positions) {
  const paths = [];
  for (const [from, to] of edges) {
    const a = positions.get(from);
    const b = positions.get(to);
    const x1 = a.x + NODE_WIDTH;
    const y1 = a.y + NODE_HEIGHT / 2;
    const x2 = b.x - ARROW;
    const y2 = b.y + NODE_HEIGHT / 2;
    const bend = Math.max(24, (x2 - x1) / 2);
    paths.push(
      `<path class="edge" d="M${x1} ${y1}C${x1 + bend} ${y1} ${x2 - bend} ${y2} ${x2} ${y2}"/>`,
      `<path class="edge-arrow" d="M${x2 - 1} ${y2 - 4}L${b.x} ${y2}L${x2 - 1} ${y2 + 4}z"/>`,
    );
  }
  return paths.join("");
}

export class JobGraph {
  /**
   * container: the element to draw in; onSelect(name) when a job is clicked or activated.
   * showPhase: false for the editor's preview (no run, so no phases).
   */
  constructor(container, { onSelect = null, showPhase = true, minScale = 0.6 } = {}) {
    this.container = container;
    this.minScale = minScale;
    this.onSelect = onSelect;
    this.showPhase = showPhase;
    this.nodes = new Map();
    this.states = new Map();
    this.uses = new Map();
    this.dirty = new Set();
    this.frame = 0;
    this.selected = null;
    this.size = null;
    new ResizeObserver(() => this.fit()).observe(container);
    container.addEventListener("click", (event) => this.activate(event));
    container.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") this.activate(event);
    });
  }

  activate(event) {
    const node = event.target.closest("[data-job]");
    if (!node || !this.onSelect) return;
    event.preventDefault();
    this.onSelect(node.dataset.job);
  }

  /** Draw the graph of jobs [{name, needs, uses}] with their states {phase, started, finished}. */
  draw(jobs, states = new Map()) {
    const { positions, edges, width, height } = layout(jobs);
    // Copies: the caller changes its own state objects, and update() compares against these.
    this.states = new Map([...states].map(([name, state]) => [name, { ...state }]));
    this.uses = new Map(jobs.map((job) => [job.name, job.uses ?? ""]));
    this.size = { width, height };
    // Measured before the nodes go in, so the measurement does not lay out the whole graph.
    const scale = this.scaleFor(width);
    const zoom = scale < 1 ? `zoom:${scale};` : "";
    const parts = [
      `<div class="graph-sizer" style="width:${Math.ceil(width * scale)}px;height:${Math.ceil(height * scale)}px">`,
      `<div class="graph${jobs.length <= ANIMATED_UP_TO ? " animated" : ""}" style="${zoom}width:${width}px;height:${height}px">`,
      `<svg class="graph-edges" width="${width}" height="${height}" aria-hidden="true">`,
      edgesSVG(edges, positions),
      "</svg>",
    ];
    const tiles = new Map();
    for (const job of jobs) {
      const place = positions.get(job.name);
      const key = `${place.column}:${Math.floor(place.row / TILE_ROWS)}`;
      if (!tiles.has(key)) tiles.set(key, { x: place.x, top: Infinity, bottom: 0, jobs: [] });
      const tile = tiles.get(key);
      tile.top = Math.min(tile.top, place.y);
      tile.bottom = Math.max(tile.bottom, place.y + NODE_HEIGHT);
      tile.jobs.push(job);
    }
    for (const tile of tiles.values()) {
      parts.push(`<div class="graph-tile" style="left:${tile.x}px;top:${tile.top}px;height:${tile.bottom - tile.top}px">`);
      for (const job of tile.jobs) {
        const state = this.states.get(job.name) ?? {};
        const phase = this.showPhase ? state.phase ?? "PENDING" : "NONE";
        const name = escapeHTML(job.name);
        parts.push(
          `<div class="${this.nodeClass(job.name, phase)}" data-job="${name}" style="top:${positions.get(job.name).y - tile.top}px" tabindex="0" role="button" title="${name}">`,
          `<span class="node-name">${name}</span>`,
          `<span class="node-meta">${escapeHTML(this.metaText(job.name, state))}</span></div>`,
        );
      }
      parts.push("</div>");
    }
    parts.push("</div></div>");
    this.container.innerHTML = parts.join("");
    this.sizer = this.container.firstElementChild;
    this.canvas = this.sizer.firstElementChild;
    this.scale = scale;
    this.nodes = new Map();
    for (const node of this.canvas.querySelectorAll("[data-job]")) this.nodes.set(node.dataset.job, node);
  }

  nodeClass(name, phase) {
    const reused = this.states.get(name)?.reusedFrom ? " reused" : "";
    return `node phase-${phase}${reused}${this.selected === name ? " selected" : ""}${this.errors?.has(name) ? " has-error" : ""}`;
  }

  /** Shrink a wide graph to fit its pane, down to minScale; beyond that, the pane scrolls. */
  scaleFor(width) {
    const room = this.container.clientWidth || width;
    return Math.max(this.minScale, Math.min(1, room / width));
  }

  fit() {
    if (!this.size || !this.sizer) return;
    const { width, height } = this.size;
    const scale = this.scaleFor(width);
    if (scale === this.scale) return;
    this.scale = scale;
    this.sizer.style.width = `${Math.ceil(width * scale)}px`;
    this.sizer.style.height = `${Math.ceil(height * scale)}px`;
    // zoom, not a scale transform: a transform over thousands of boxes makes every frame's
    // compositing step (layerization) many times slower in Chromium.
    this.canvas.style.zoom = scale < 1 ? String(scale) : "";
  }

  metaText(name, state) {
    const uses = this.uses.get(name) ?? "";
    if (!this.showPhase) return uses;
    if (state.reusedFrom) return `${uses} · reused #${state.reusedFrom}`;
    const seconds = secondsBetween(state.started, state.finished);
    if (seconds == null || state.phase === "PENDING") return uses;
    return `${uses} · ${formatDuration(seconds)}`;
  }

  /** Record a job's new state; the DOM follows on the next animation frame. */
  update(name, state) {
    if (!this.nodes.has(name)) return;
    const known = this.states.get(name);
    if (known && known.phase === state.phase && known.started === state.started && known.finished === state.finished) {
      return;
    }
    this.states.set(name, { ...known, ...state });
    this.dirty.add(name);
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    if (this.nodes.size >= BATCHED_FROM) {
      this.frame = setTimeout(() => requestAnimationFrame(() => this.flush()), BATCH_MS);
    } else {
      this.frame = requestAnimationFrame(() => this.flush());
    }
  }

  flush() {
    this.frame = 0;
    for (const name of this.dirty) {
      const node = this.nodes.get(name);
      const state = this.states.get(name);
      const phase = state.phase ?? "PENDING";
      node.className = this.nodeClass(name, phase);
      node.querySelector(".node-meta").textContent = this.metaText(name, state);
    }
    this.dirty.clear();
  }

  /** Refresh the elapsed time of running jobs (called once a second). */
  tick() {
    for (const [name, state] of this.states) {
      if (state.phase === "RUNNING") this.dirty.add(name);
    }
    if (this.dirty.size) this.schedule();
  }

  select(name) {
    this.nodes.get(this.selected)?.classList.remove("selected");
    this.selected = name;
    const node = this.nodes.get(name);
    if (node) {
      node.classList.add("selected");
      node.scrollIntoView?.({ block: "nearest", inline: "nearest" });
    }
  }

  /** Outline jobs that have validation errors (editor preview). */
  markErrors(names) {
    this.errors = names;
    for (const [name, node] of this.nodes) node.classList.toggle("has-error", names.has(name));
  }
}
