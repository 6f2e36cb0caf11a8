// Injected by tests/workflow/test_report_browser.py into a copy of a Snakemake report. It drives the
// report's own `app` object (the React app Snakemake's template stores globally) through every category,
// subcategory and result, records what each view rendered, and writes the record as JSON into a hidden
// pre element (id vpbench-browser-check) so that `chromium --headless --dump-dom` hands it to the test.
// Opened with #screenshot it only shows the first figure next to its results table, for a screenshot.
// Snakemake 9.27's report template is the reference for the names used here (app, categories, results).
(function () {
  "use strict";
  const check = { errors: window.__vpbenchErrors || [], menu: "", views: {}, results: {}, done: false };
  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
  const navbarText = () => (document.querySelector("nav") || document.body).innerText;

  async function showImage(path, entry) {
    app.setView({ content: "img", contentPath: entry.data_uri, resultPath: path });
    await settle();
    const image = Array.from(document.querySelectorAll("img")).find((el) => el.src === entry.data_uri);
    if (image && !image.complete) {
      await new Promise((resolve) => image.addEventListener("load", resolve, { once: true }));
    }
    return image ? { complete: image.complete, width: image.naturalWidth, height: image.naturalHeight } : null;
  }

  async function visitEverything() {
    await settle();
    check.menu = navbarText();
    for (const category of Object.keys(categories)) {
      for (const subcategory of Object.keys(categories[category])) {
        // The results table caches its rows when it mounts: pass through the menu so that it remounts.
        app.setView({ navbarMode: "menu" });
        await settle();
        window.__vpbenchView = "results table of " + category + " / " + subcategory;
        app.setView({ navbarMode: "subcategory", category: category, subcategory: subcategory });
        await settle();
        check.views[category + "\u0000" + subcategory] = {
          rows: document.querySelectorAll("nav tbody tr").length,
          text: navbarText(),
        };
      }
    }
    for (const [path, entry] of Object.entries(results)) {
      window.__vpbenchView = "result view of " + path;
      app.showResultInfo(path);
      await settle();
      const record = { info: navbarText(), mime_type: entry.mime_type, image: null };
      if (entry.mime_type.startsWith("image/")) {
        record.image = await showImage(path, entry);
      }
      check.results[path] = record;
    }
    check.done = true;
  }

  // Screenshot mode (page opened with #screenshot): only the first figure, next to its results table.
  async function showFirstFigure() {
    await settle();
    for (const [category, subcategories] of Object.entries(categories)) {
      for (const [subcategory, paths] of Object.entries(subcategories)) {
        const path = paths.find((candidate) => results[candidate].mime_type.startsWith("image/"));
        if (path) {
          window.__vpbenchView = "results table of " + category + " / " + subcategory;
          app.setView({ navbarMode: "subcategory", category: category, subcategory: subcategory });
          await settle();
          await showImage(path, results[path]);
          check.done = true;
          return;
        }
      }
    }
    check.done = true;
  }

  function publish() {
    const pre = document.createElement("pre");
    pre.id = "vpbench-browser-check";
    pre.style.display = "none";
    pre.textContent = JSON.stringify(check);
    document.body.appendChild(pre);
  }

  window.addEventListener("load", function () {
    const steps = window.location.hash === "#screenshot" ? showFirstFigure : visitEverything;
    steps()
      .catch((error) => check.errors.push("driver: " + String((error && error.stack) || error)))
      .finally(publish);
  });
})();
