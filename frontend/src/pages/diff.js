// The diff page: switch the spec diff between side by side and unified.

for (const link of document.querySelectorAll("[data-diff-view]")) {
  link.addEventListener("click", (event) => {
    event.preventDefault();
    const view = link.dataset.diffView;
    for (const other of document.querySelectorAll("[data-diff-view]")) {
      other.setAttribute("aria-selected", String(other === link));
    }
    document.getElementById("split").hidden = view !== "split";
    document.getElementById("unified").hidden = view !== "unified";
  });
}
