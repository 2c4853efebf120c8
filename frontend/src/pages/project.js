// The project page: a dataset version's files load when it is opened; deletes ask first.

import { request } from "../api.js";
import { escapeHTML } from "../format.js";
import { iconHTML } from "../phases.js";

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

async function loadFiles(details) {
  const box = details.querySelector(".files");
  const base = details.dataset.filesUrl;
  try {
    const files = await request(base);
    box.innerHTML = files.length
      ? `<ul class="file-list">${files
          .map(
            (file) =>
              `<li><a href="${escapeHTML(`${base}/${file.path.split("/").map(encodeURIComponent).join("/")}`)}" download>` +
              `${iconHTML("file", "icon-muted")} <span class="mono">${escapeHTML(file.path)}</span></a> ` +
              `<span class="muted small">${size(file.size)}</span></li>`,
          )
          .join("")}</ul>`
      : '<p class="muted small">This version has no files.</p>';
  } catch (error) {
    box.innerHTML = `<p class="muted small">Could not list the files: ${escapeHTML(error.message)}</p>`;
  }
}

for (const details of document.querySelectorAll("details[data-files-url]")) {
  details.addEventListener("toggle", () => {
    if (details.open && !details.dataset.loaded) {
      details.dataset.loaded = "1";
      loadFiles(details);
    }
  });
}

for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}
