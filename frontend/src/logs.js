// A job's log: only the rows in view are in the DOM, so 100,000 lines scroll like 100.
// Lines are kept by number; search filters them; follow keeps the newest line in view.

import { debounce, escapeHTML } from "./format.js";

const ROW_HEIGHT = 19;
const OVERSCAN = 30;
const SEARCH_DELAY_MS = 120;

function clock(timestamp) {
  const match = /T(\d\d:\d\d:\d\d(?:\.\d{1,3})?)/.exec(timestamp ?? "");
  return match ? match[1] : "";
}

function highlighted(text, query) {
  if (!query) return escapeHTML(text);
  const lower = text.toLowerCase();
  let out = "";
  let at = 0;
  for (let found = lower.indexOf(query, at); found !== -1; found = lower.indexOf(query, at)) {
    out += `${escapeHTML(text.slice(at, found))}<mark>${escapeHTML(text.slice(found, found + query.length))}</mark>`;
    at = found + query.length;
  }
  return out + escapeHTML(text.slice(at));
}

export class LogView {
  constructor(viewport, { search, follow, count }) {
    this.viewport = viewport;
    this.searchInput = search;
    this.followInput = follow;
    this.countLabel = count;
    this.viewport.innerHTML = '<div class="log-spacer"></div><div class="log-rows"></div><p class="log-empty muted small"></p>';
    this.spacer = viewport.querySelector(".log-spacer");
    this.rows = viewport.querySelector(".log-rows");
    this.empty = viewport.querySelector(".log-empty");
    this.frame = 0;
    this.reset("");
    viewport.addEventListener("scroll", () => {
      const atBottom = viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - ROW_HEIGHT;
      // Scrolling up stops following; scrolling back to the end follows again.
      if (this.followInput.checked !== atBottom && !this.matches) this.followInput.checked = atBottom;
      this.schedule();
    });
    this.followInput.addEventListener("change", () => this.followInput.checked && this.scrollToEnd());
    this.searchInput.addEventListener("input", debounce(() => this.search(this.searchInput.value), SEARCH_DELAY_MS));
  }

  /** Forget everything and say `message` while the next job's lines load. */
  reset(message) {
    this.lines = [];
    this.query = "";
    this.matches = null;
    this.searchInput.value = "";
    this.followInput.checked = true;
    this.emptyText = message;
    this.schedule();
  }

  get count() {
    return this.lines.length;
  }

  /**
   * Add lines [[timestamp, message], …] numbered from `first`. Lines already held are skipped;
   * false (and nothing added) when `first` leaves a gap after the last line held.
   */
  add(first, lines) {
    if (first > this.lines.length + 1) return false;
    const skip = this.lines.length + 1 - first;
    if (skip >= lines.length) return true;
    const start = this.lines.length;
    for (let i = skip; i < lines.length; i += 1) this.lines.push(lines[i]);
    if (this.matches) {
      for (let i = start; i < this.lines.length; i += 1) {
        if (this.lines[i][1].toLowerCase().includes(this.query)) this.matches.push(i);
      }
    }
    this.schedule();
    return true;
  }

  setEmptyText(message) {
    this.emptyText = message;
    this.schedule();
  }

  search(text) {
    this.query = text.trim().toLowerCase();
    if (!this.query) {
      this.matches = null;
    } else {
      this.matches = [];
      for (let i = 0; i < this.lines.length; i += 1) {
        if (this.lines[i][1].toLowerCase().includes(this.query)) this.matches.push(i);
      }
    }
    this.viewport.scrollTop = 0;
    this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  scrollToEnd() {
    this.viewport.scrollTop = this.viewport.scrollHeight;
  }

  render() {
    this.frame = 0;
    const shown = this.matches ? this.matches.length : this.lines.length;
    this.spacer.style.height = `${shown * ROW_HEIGHT}px`;
    if (this.followInput.checked && !this.matches) this.scrollToEnd();
    const top = this.viewport.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(shown, Math.ceil((top + this.viewport.clientHeight) / ROW_HEIGHT) + OVERSCAN);
    const html = [];
    for (let k = first; k < last; k += 1) {
      const i = this.matches ? this.matches[k] : k;
      const [timestamp, message] = this.lines[i];
      html.push(
        `<div class="log-line"><span class="log-no">${i + 1}</span><span class="log-time">${clock(timestamp)}</span>` +
          `<span class="log-text">${highlighted(message, this.query)}</span></div>`,
      );
    }
    this.rows.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    this.rows.innerHTML = html.join("");
    this.empty.textContent = shown ? "" : this.matches ? "No line matches." : this.emptyText;
    this.countLabel.textContent = this.matches
      ? `${this.matches.length.toLocaleString()} of ${this.lines.length.toLocaleString()} lines`
      : `${this.lines.length.toLocaleString()} line${this.lines.length === 1 ? "" : "s"}`;
  }
}
