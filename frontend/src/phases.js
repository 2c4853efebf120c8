// Phases: one colour (in CSS, .phase-NAME) and one icon (in base.html's sprite) each.

export const PHASE_ICONS = {
  PENDING: "pending",
  RUNNING: "running",
  SUCCEEDED: "succeeded",
  FAILED: "failed",
  SKIPPED: "skipped",
  CANCELED: "canceled",
};

export const JOB_PHASES = Object.keys(PHASE_ICONS);
export const FINAL_PHASES = new Set(["SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"]);

export function phaseLabel(phase) {
  return phase.charAt(0) + phase.slice(1).toLowerCase();
}

export function iconHTML(name, css = "") {
  return `<svg class="icon ${css}" aria-hidden="true"><use href="#i-${name}"></use></svg>`;
}

export function badgeHTML(phase, css = "") {
  const known = PHASE_ICONS[phase] ? phase : "PENDING";
  return (
    `<span class="phase phase-${known} ${css}" data-phase="${known}">` +
    iconHTML(PHASE_ICONS[known]) +
    `<span class="phase-label">${phaseLabel(known)}</span></span>`
  );
}
