// The run's timeline (Gantt): one row per job, a bar from start to finish in its phase colour.

import { escapeHTML, formatDuration, secondsBetween } from "./format.js";
import { PHASE_ICONS, iconHTML } from "./phases.js";

const TICKS = 6;

export class Timeline {
  constructor(container, { onSelect = null } = {}) {
    this.container = container;
    this.onSelect = onSelect;
    this.states = new Map();
    this.names = [];
    this.bars = new Map();
    this.visible = false;
    this.frame = 0;
    container.addEventListener("click", (event) => {
      const row = event.target.closest("[data-job]");
      if (row && this.onSelect) this.onSelect(row.dataset.job);
    });
  }

  draw(names, states) {
    this.names = names;
    // Copies: the caller changes its own state objects, and update() compares against these.
    this.states = new Map([...states].map(([name, state]) => [name, { ...state }]));
    const rows = names.map(
      (name) =>
        `<div class="tl-row" data-job="${escapeHTML(name)}"><span class="tl-name" title="${escapeHTML(name)}">${escapeHTML(name)}</span>` +
        `<div class="tl-track"><div class="tl-bar"></div></div></div>`,
    );
    this.container.innerHTML = `<div class="tl-axis"><span class="tl-name"></span><div class="tl-ticks"></div></div><div class="tl-rows">${rows.join("")}</div>`;
    this.ticks = this.container.querySelector(".tl-ticks");
    this.bars = new Map();
    for (const row of this.container.querySelectorAll(".tl-row")) {
      this.bars.set(row.dataset.job, row.querySelector(".tl-bar"));
    }
    this.schedule();
  }

  update(name, state) {
    const known = this.states.get(name);
    if (known && known.phase === state.phase && known.started === state.started && known.finished === state.finished) {
      return;
    }
    this.states.set(name, { ...known, ...state });
    this.schedule();
  }

  setVisible(visible) {
    this.visible = visible;
    this.schedule();
  }

  tick() {
    for (const state of this.states.values()) {
      if (state.phase === "RUNNING") {
        this.schedule();
        return;
      }
    }
  }

  schedule() {
    if (this.visible && !this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  render() {
    this.frame = 0;
    const now = Date.now();
    let start = Infinity;
    let end = -Infinity;
    for (const state of this.states.values()) {
      if (!state.started) continue;
      start = Math.min(start, Date.parse(state.started));
      end = Math.max(end, state.finished ? Date.parse(state.finished) : now);
    }
    if (!Number.isFinite(start)) {
      this.ticks.innerHTML = '<span class="muted small">No job has started yet.</span>';
      for (const bar of this.bars.values()) bar.hidden = true;
      return;
    }
    const span = Math.max(end - start, 1000);
    const trackWidth = this.ticks.clientWidth || 1;
    this.ticks.innerHTML = Array.from({ length: TICKS + 1 }, (_, k) => {
      const left = (k / TICKS) * 100;
      return `<span class="tl-tick" style="left:${left}%">${formatDuration((span * k) / TICKS / 1000)}</span>`;
    }).join("");
    for (const [name, bar] of this.bars) {
      const state = this.states.get(name) ?? {};
      if (!state.started) {
        bar.hidden = true;
        continue;
      }
      const from = Date.parse(state.started) - start;
      const to = (state.finished ? Date.parse(state.finished) : now) - start;
      const phase = state.phase ?? "PENDING";
      bar.hidden = false;
      const share = Math.max((to - from) / span, 0.004);
      bar.className = `tl-bar phase-${phase}${share * trackWidth < 64 ? " tl-narrow" : ""}`;
      bar.style.left = `${(from / span) * 100}%`;
      bar.style.width = `${share * 100}%`;
      const seconds = secondsBetween(state.started, state.finished, now);
      bar.title = `${name}: ${phase.toLowerCase()}, ${formatDuration(seconds)}`;
      bar.innerHTML = `${iconHTML(PHASE_ICONS[phase] ?? "pending")}<span>${formatDuration(seconds)}</span>`;
    }
  }
}
