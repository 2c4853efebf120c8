// The run page: the live job graph and timeline, the run header, and the job panel
// (logs streamed from job.log events; data, spec and details rendered by the server).

import { fetchText, request } from "../api.js";
import { formatDuration, secondsBetween } from "../format.js";
import { JobGraph } from "../graph.js";
import { RunSocket } from "../live.js";
import { LogView } from "../logs.js";
import { badgeHTML, FINAL_PHASES, JOB_PHASES, phaseLabel } from "../phases.js";
import { Timeline } from "../timeline.js";

const LOG_PAGE = 5000;
const COUNTS_MS = 200;
const RUN_FINAL = new Set(["SUCCEEDED", "FAILED", "CANCELED"]);
const LIVE_WORDS = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", refused: "no access" };

const page = document.getElementById("run-page");
const urls = page.dataset;
const layoutBox = document.getElementById("run-layout");
const panel = document.getElementById("job-panel");
let run = JSON.parse(document.getElementById("run-document").textContent);
let openJob = null;
let logToken = 0;
let logLoading = false;
let logBuffer = [];
let drawnNames = "";
const baseTitle = document.title;

// Tests and the UI bench read this; nothing else does.
const hook = { applied: 0, socket: null };
window.runPage = hook;

const forJob = (template, name) => template.replace("__job__", encodeURIComponent(name));

function jobsOf(documentRun) {
  const specJobs = documentRun.spec?.jobs ?? {};
  return Object.keys(documentRun.status.jobs).map((name) => {
    const needs = specJobs[name]?.needs;
    return {
      name,
      needs: Array.isArray(needs) ? needs : typeof needs === "string" ? [needs] : [],
      uses: specJobs[name]?.uses ?? "",
    };
  });
}

const graph = new JobGraph(document.getElementById("run-graph"), { onSelect: (name) => showJob(name), minScale: 0.75 });
const timeline = new Timeline(document.getElementById("run-timeline"), { onSelect: (name) => showJob(name) });
const logs = new LogView(document.getElementById("log-view"), {
  search: document.getElementById("log-search"),
  follow: document.getElementById("log-follow"),
  count: document.getElementById("log-count"),
});

function drawAll() {
  const jobs = jobsOf(run);
  const states = new Map(Object.entries(run.status.jobs));
  graph.draw(jobs, states);
  timeline.draw(jobs.map((job) => job.name), states);
  drawnNames = jobs.map((job) => job.name).join("\n");
  performance.mark("run-graph-drawn");
  requestAnimationFrame(() => setTimeout(() => performance.mark("run-graph-painted")));
}

// -- header -----------------------------------------------------------------------

const phaseBox = document.getElementById("run-phase");
const durationBox = document.getElementById("run-duration");
const cancelForm = document.getElementById("cancel-form");
const rerunFailedForm = document.getElementById("rerun-failed-form");
const RERUN_FAILED_PHASES = new Set(["FAILED", "CANCELED"]);
const messageBox = document.getElementById("run-message");
const countsBox = document.getElementById("phase-counts");
let countsFrame = 0;

function renderHeader() {
  const status = run.status;
  const shown = phaseBox.querySelector("[data-phase]")?.dataset.phase;
  if (shown !== status.phase) phaseBox.innerHTML = badgeHTML(status.phase, "phase-large");
  durationBox.textContent = formatDuration(secondsBetween(status.started, status.finished));
  cancelForm.hidden = RUN_FINAL.has(status.phase);
  if (rerunFailedForm) rerunFailedForm.hidden = !RERUN_FAILED_PHASES.has(status.phase);
  messageBox.hidden = !status.message;
  messageBox.textContent = status.message ?? "";
  document.title = `${phaseLabel(status.phase)} · ${baseTitle}`;
}

function renderCounts() {
  countsFrame = 0;
  const counts = Object.fromEntries(JOB_PHASES.map((phase) => [phase, 0]));
  for (const state of Object.values(run.status.jobs)) counts[state.phase] = (counts[state.phase] ?? 0) + 1;
  countsBox.innerHTML = JOB_PHASES.filter((phase) => counts[phase])
    .map((phase) => `<span class="count-chip phase-${phase}"><i></i>${counts[phase]} ${phase.toLowerCase()}</span>`)
    .join("");
}

function scheduleCounts() {
  if (!countsFrame) countsFrame = setTimeout(() => requestAnimationFrame(renderCounts), COUNTS_MS);
}

// -- live updates ------------------------------------------------------------------

function applySnapshot(document_) {
  run = document_;
  const names = Object.keys(run.status.jobs).join("\n");
  if (names !== drawnNames) {
    drawAll();
  } else {
    for (const [name, state] of Object.entries(run.status.jobs)) {
      graph.update(name, state);
      timeline.update(name, state);
    }
  }
  renderHeader();
  scheduleCounts();
  if (openJob) {
    renderJobHeader();
    loadLog(openJob, logToken);
  }
}

function applyJobPhase(event) {
  const state = run.status.jobs[event.job];
  if (!state) return;
  state.phase = event.phase;
  if (event.attempt != null) state.attempt = event.attempt;
  if (event.exitCode != null) state.exitCode = event.exitCode;
  if (event.message != null) state.message = event.message;
  if (event.phase === "RUNNING") {
    state.started = event.at;
    state.finished = null;
  } else if (FINAL_PHASES.has(event.phase)) {
    state.finished = event.at;
  }
  graph.update(event.job, state);
  timeline.update(event.job, state);
  scheduleCounts();
  if (event.job === openJob) {
    renderJobHeader();
    if (FINAL_PHASES.has(event.phase)) loadFragments(openJob);
  }
}

// What a running job does before its process starts (pulling its image, waiting for GPUs).
function applyJobDetail(event) {
  const state = run.status.jobs[event.job];
  if (!state || state.phase !== "RUNNING" || (event.attempt != null && event.attempt !== state.attempt)) return;
  state.message = event.message;
  if (event.job === openJob) renderJobHeader();
}

function applyRunPhase(event) {
  const status = run.status;
  status.phase = event.phase;
  if (event.phase === "RUNNING" && !status.started) status.started = event.at;
  if (RUN_FINAL.has(event.phase)) status.finished = event.at;
  if (event.message != null) status.message = event.message;
  renderHeader();
}

function applyLog(event) {
  if (event.job !== openJob) return;
  if (logLoading || !logs.add(event.first, event.lines)) {
    logBuffer.push(event);
    if (!logLoading) loadLog(openJob, logToken);
  }
}

function applyEvent(event) {
  hook.applied += 1;
  if (event.type === "job.phase") applyJobPhase(event);
  else if (event.type === "run.phase") applyRunPhase(event);
  else if (event.type === "job.log") applyLog(event);
  else if (event.type === "job.detail") applyJobDetail(event);
}

const liveBox = document.getElementById("live-state");
hook.socket = new RunSocket(urls.wsPath, {
  onSnapshot: applySnapshot,
  onEvent: applyEvent,
  onState: (state) => {
    if (liveBox.dataset.state === state) return;
    liveBox.dataset.state = state;
    liveBox.className = `live live-${state}`;
    liveBox.textContent = LIVE_WORDS[state];
  },
}).connect();

setInterval(() => {
  graph.tick();
  timeline.tick();
  if (!RUN_FINAL.has(run.status.phase)) renderHeader();
  if (openJob && run.status.jobs[openJob]?.phase === "RUNNING") renderJobHeader();
}, 1000);

// -- the job panel ------------------------------------------------------------------

const jobName = document.getElementById("job-name");
const jobPhase = document.getElementById("job-phase");
const jobElapsed = document.getElementById("job-elapsed");
const jobDetail = document.getElementById("job-detail");
const fragments = {
  data: panel.querySelector('[data-job-tab-panel="data"]'),
  spec: panel.querySelector('[data-job-tab-panel="spec"]'),
  details: panel.querySelector('[data-job-tab-panel="details"]'),
};

function renderJobHeader() {
  const state = run.status.jobs[openJob];
  if (!state) return;
  if (jobPhase.querySelector("[data-phase]")?.dataset.phase !== state.phase) jobPhase.innerHTML = badgeHTML(state.phase);
  const seconds = secondsBetween(state.started, state.finished);
  jobElapsed.textContent = seconds == null || state.phase === "PENDING" ? "" : formatDuration(seconds);
  jobDetail.textContent = state.phase === "RUNNING" && state.message ? state.message : "";
  logs.setEmptyText(
    state.phase === "PENDING" ? "Waiting for the job to start…" : FINAL_PHASES.has(state.phase) ? "This job printed nothing." : "No output yet…",
  );
}

async function loadLog(name, token) {
  if (logLoading) return;
  logLoading = true;
  try {
    for (;;) {
      const answer = await request(`${forJob(urls.logsUrl, name)}?after=${logs.count}&limit=${LOG_PAGE}`);
      if (token !== logToken) return;
      const lines = answer.lines;
      if (lines.length) logs.add(lines[0].line, lines.map((line) => [line.timestamp, line.message]));
      if (answer.finished || lines.length < LOG_PAGE) break;
    }
  } catch {
    if (token === logToken) logs.setEmptyText("The log could not be loaded; it will resume with the next lines.");
  } finally {
    if (token === logToken) {
      logLoading = false;
      const waiting = logBuffer;
      logBuffer = [];
      for (const event of waiting) applyLog(event);
    }
  }
}

async function loadFragments(name) {
  try {
    const html = await fetchText(forJob(urls.panelUrl, name));
    if (name !== openJob) return;
    const holder = document.createElement("div");
    holder.innerHTML = html;
    for (const [tab, box] of Object.entries(fragments)) {
      box.innerHTML = holder.querySelector(`[data-fragment="${tab}"]`)?.innerHTML ?? "";
    }
  } catch {
    for (const box of Object.values(fragments)) box.innerHTML = '<p class="muted small">Could not load this tab.</p>';
  }
}

function selectTab(tab) {
  for (const button of panel.querySelectorAll("[data-job-tab]")) {
    button.setAttribute("aria-selected", String(button.dataset.jobTab === tab));
  }
  for (const box of panel.querySelectorAll("[data-job-tab-panel]")) box.hidden = box.dataset.jobTabPanel !== tab;
}

function showJob(name) {
  if (!run.status.jobs[name]) return;
  const changed = name !== openJob;
  openJob = name;
  panel.hidden = false;
  layoutBox.classList.add("with-panel");
  graph.select(name);
  history.replaceState(null, "", `#job=${encodeURIComponent(name)}`);
  if (!changed) return;
  jobName.textContent = name;
  jobPhase.innerHTML = "";
  document.getElementById("log-download").href = forJob(urls.logDownloadUrl, name);
  logToken += 1;
  logLoading = false;
  logBuffer = [];
  logs.reset("Loading…");
  renderJobHeader();
  for (const box of Object.values(fragments)) box.innerHTML = '<p class="muted small">Loading…</p>';
  loadLog(name, logToken);
  loadFragments(name);
}

function closeJob() {
  openJob = null;
  logToken += 1;
  panel.hidden = true;
  layoutBox.classList.remove("with-panel");
  graph.select(null);
  history.replaceState(null, "", window.location.pathname);
}

panel.addEventListener("click", (event) => {
  const tab = event.target.closest("[data-job-tab]");
  if (tab) selectTab(tab.dataset.jobTab);
});
document.getElementById("job-close").addEventListener("click", closeJob);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && openJob && !event.target.closest("input")) closeJob();
});

// -- graph / timeline tabs -----------------------------------------------------------

for (const button of document.querySelectorAll("[data-view]")) {
  button.addEventListener("click", () => {
    const view = button.dataset.view;
    for (const other of document.querySelectorAll("[data-view]")) other.setAttribute("aria-selected", String(other === button));
    for (const box of document.querySelectorAll("[data-view-panel]")) box.hidden = box.dataset.viewPanel !== view;
    timeline.setVisible(view === "timeline");
  });
}

drawAll();
renderHeader();
renderCounts();
const linked = decodeURIComponent(window.location.hash.match(/^#job=(.+)$/)?.[1] ?? "");
if (linked) showJob(linked);
