/*
 * The console's front end: one small script, no framework, no build step.
 *
 * The pages are rendered by the service with the session's CSRF token in <meta name="csrf-token">; this script reads
 * and changes everything through the REST API (/api/...) with the session cookie, so the API's rules, scopes and
 * preconditions are the console's. Changes send X-CSRF-Token; updates send If-Match with the ETag they were read
 * with, and a 412 shows what someone else changed instead of overwriting it.
 *
 * Safety: data from the API (labels, agent names, actors...) is only ever written with textContent or as attribute
 * values through setAttribute; no string is ever parsed as markup here.
 */
"use strict";

(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const meta = (name) => {
    const tag = document.querySelector(`meta[name="${name}"]`);
    return tag ? tag.getAttribute("content") : "";
  };

  const CSRF = meta("csrf-token");
  const CAN_WRITE = document.body.dataset.canWrite === "true";
  const API = "/api/settings";
  const EMPTY = "—";

  /** An element with attributes (set as text, never parsed) and children (nodes, or strings as text nodes). */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const shown = (value) => (value === null || value === undefined ? "" : String(value));
  const display = (value) => (value === null || value === undefined || value === "" ? "(empty)" : String(value));

  // -- status and errors ------------------------------------------------------------------------------------------

  const statusRegion = $("#status");

  function say(message, kind = "info") {
    if (!statusRegion) return;
    statusRegion.textContent = message;
    statusRegion.dataset.kind = kind;
  }

  function problem(result) {
    const data = result.data || {};
    if (typeof data.detail === "string" && data.detail) return data.detail;
    return `The service answered ${result.status}.`;
  }

  function clearErrors(form) {
    for (const slot of $$("[data-error-for]", form)) slot.textContent = "";
    for (const control of $$("[aria-invalid]", form)) control.removeAttribute("aria-invalid");
  }

  /** Show a 4xx answer: each error beside its field (``data-error-for``), the rest in the status region. */
  function showErrors(form, result, fallbackField) {
    const data = result.data || {};
    const errors = Array.isArray(data.errors) ? data.errors : [];
    const unplaced = [];
    let first = null;
    const place = (field, message) => {
      const slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
      if (!slot) return false;
      slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
      const control = form.elements ? form.elements.namedItem(field) : null;
      if (control && control.setAttribute) {
        control.setAttribute("aria-invalid", "true");
        first = first || control;
      }
      return true;
    };
    for (const error of errors) {
      if (!place(String(error.field), String(error.message))) unplaced.push(`${error.field}: ${error.message}`);
    }
    if (!errors.length && fallbackField) place(fallbackField, problem(result));
    const summary = [problem(result), ...unplaced].join(" ");
    say(errors.length ? `Not saved: ${summary}` : summary, "error");
    if (first && first.focus) first.focus();
  }

  function busy(button, on) {
    if (!button) return;
    button.disabled = on;
    if (on) button.setAttribute("aria-busy", "true");
    else button.removeAttribute("aria-busy");
  }

  // -- the API ----------------------------------------------------------------------------------------------------

  class SignedOut extends Error {}
  class Unreachable extends Error {}

  /** One API call with the session cookie; a change carries the CSRF token. 401: the session ended, sign in. */
  async function api(method, path, { body, etag } = {}) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = CSRF;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (etag) headers["If-Match"] = etag;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (error) {
      say(`The service did not answer (${error.message}). Try again.`, "error");
      throw new Unreachable(error.message);
    }
    if (response.status === 401) {
      say("Your session has ended: sign in again.", "error");
      window.location.assign(`/console/sign-in?next=${encodeURIComponent(window.location.pathname)}`);
      throw new SignedOut("signed out");
    }
    const text = response.status === 204 ? "" : await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = { detail: text.slice(0, 300) };
      }
    }
    return { status: response.status, ok: response.ok, data, headers: response.headers };
  }

  /** Run an event handler; a signed-out or unreachable service has already been told, anything else is. */
  const guarded = (handler) => async (...args) => {
    try {
      await handler(...args);
    } catch (error) {
      if (error instanceof SignedOut || error instanceof Unreachable) return;
      say(`Something went wrong: ${error.message}`, "error");
      throw error;
    }
  };

  // -- the live stream --------------------------------------------------------------------------------------------

  /** Follow GET /api/settings/stream from the settings version ``after`` (X-Settings-Version of the answer the page
   * shows: no change stored between that read and the stream's start is missed); ``handlers`` maps event names to
   * functions of the parsed body. The state is shown in #live and in <body data-live="connecting|open|closed">
   * (tests wait for "open"). */
  function follow(handlers, after) {
    const indicator = $("#live");
    const show = (state, text) => {
      document.body.dataset.live = state;
      if (indicator) {
        indicator.dataset.live = state;
        indicator.textContent = text;
      }
    };
    if (!window.EventSource) {
      show("closed", "Live updates: not supported by this browser");
      return;
    }
    show("connecting", "Live updates: connecting…");
    const since = /^\d+$/.test(String(after ?? "")) ? `?after=${after}` : "";
    const source = new EventSource(`${API}/stream${since}`);
    source.addEventListener("open", () => show("open", "Live updates: on"));
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) show("closed", "Live updates: off (reload the page to retry)");
      else show("connecting", "Live updates: reconnecting…");
    });
    for (const [name, handler] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        guarded(handler)(data);
      });
    }
    window.addEventListener("pagehide", () => source.close());
  }

  // -- conflicts (412) ----------------------------------------------------------------------------------------------

  /** The fields whose value differs between two readings. */
  const differing = (before, after) =>
    Object.keys(after).filter((name) => name !== "updated_at" && shown(before[name]) !== shown(after[name]));

  // -- Provider -----------------------------------------------------------------------------------------------------

  function providerPage() {
    const form = $("#provider-form");
    if (!form) return;
    const controls = $$("input[name], select[name]", form);
    const submit = $('button[type="submit"]', form);
    const conflictBox = $("#conflict");
    const replacing = new Set();
    let base = null;
    let etag = null;

    const isSecret = (control) => control.hasAttribute("data-secret");
    const labelOf = (name) => {
      const label = form.querySelector(`label[for="f-${CSS.escape(name)}"]`);
      return label ? label.textContent : name;
    };

    /** The names of the fields whose control no longer shows what was read: the person's edits. */
    function edited() {
      const names = new Set();
      for (const control of controls) {
        if (isSecret(control)) {
          if (replacing.has(control.name) && control.value !== "") names.add(control.name);
        } else if (base && control.value !== shown(base[control.name])) {
          names.add(control.name);
        }
      }
      return names;
    }

    function keepSecret(control) {
      replacing.delete(control.name);
      control.type = "text";
      control.readOnly = true;
      control.value = shown(base && base[control.name]);
      control.placeholder = "not set";
      const button = form.querySelector(`[data-replace="${CSS.escape(control.name)}"]`);
      if (button) button.textContent = "Replace";
    }

    /** Show ``values``; the controls named in ``keep`` keep what the person typed. */
    function fill(values, keep = new Set()) {
      for (const control of controls) {
        if (keep.has(control.name)) continue;
        if (isSecret(control)) keepSecret(control);
        else control.value = shown(values[control.name]);
      }
      markActive();
    }

    function markActive() {
      const active = form.elements.namedItem("provider").value;
      for (const fieldset of $$("fieldset[data-group]", form)) {
        const on = fieldset.dataset.group === active;
        fieldset.classList.toggle("active", on);
        const badge = $("[data-active-badge]", fieldset);
        if (badge) badge.hidden = !on;
      }
    }

    function clearConflict() {
      conflictBox.hidden = true;
      $("#conflict-list").replaceChildren();
      for (const note of $$("[data-conflict-for]", form)) {
        note.hidden = true;
        note.textContent = "";
      }
      for (const field of $$(".field.conflicted", form)) field.classList.remove("conflicted");
    }

    /** The changed fields, as the API takes them: empty clears (null), a secret only when replaced. */
    function changes() {
      const out = {};
      for (const control of controls) {
        const name = control.name;
        if (isSecret(control)) {
          if (replacing.has(name) && control.value !== "") out[name] = control.value;
          continue;
        }
        if (control.value === shown(base[name])) continue;
        const value = control.value.trim();
        if (value === "") out[name] = null;
        else if (control.dataset.kind === "number" && /^\d+$/.test(value)) out[name] = Number(value);
        else out[name] = control.value;
      }
      return out;
    }

    async function read() {
      const result = await api("GET", `${API}/telephony`);
      if (!result.ok) {
        say(problem(result), "error");
        return null;
      }
      return { values: result.data, etag: result.headers.get("ETag"), version: result.headers.get("X-Settings-Version") };
    }

    async function load() {
      const current = await read();
      if (!current) return null;
      base = current.values;
      etag = current.etag;
      clearErrors(form);
      clearConflict();
      fill(base);
      return current.version;
    }

    /** 412: someone saved since we read. Show what they changed, take their values (keeping the person's edits)
     * and their ETag, so that saving again is a deliberate choice over the current settings. */
    async function conflict() {
      const mine = edited();
      const current = await read();
      if (!current) return;
      clearConflict();
      const list = $("#conflict-list");
      const names = differing(base, current.values);
      for (const name of names) {
        const secret = controls.some((control) => control.name === name && isSecret(control));
        const change = secret ? "replaced" : `${display(base[name])} → ${display(current.values[name])}`;
        const yours = mine.has(name) ? " (you changed it too: the form keeps your value)" : "";
        list.append(el("li", { "data-field": name }, el("strong", { text: labelOf(name) }), `: ${change}${yours}`));
        const note = form.querySelector(`[data-conflict-for="${CSS.escape(name)}"]`);
        if (note) {
          note.textContent = `Changed by someone else: ${change}`;
          note.hidden = false;
          note.closest(".field").classList.add("conflicted");
        }
      }
      if (!names.length) list.append(el("li", { text: "They saved the same values you had read." }));
      base = current.values;
      etag = current.etag;
      fill(base, mine);
      conflictBox.hidden = false;
      conflictBox.focus();
      say("Not saved: someone else changed the provider settings meanwhile. Review and save again.", "error");
    }

    form.addEventListener(
      "submit",
      guarded(async (event) => {
        event.preventDefault();
        if (!CAN_WRITE || !base) return;
        clearErrors(form);
        const payload = changes();
        if (!Object.keys(payload).length) {
          say("Nothing changed: nothing to save.");
          return;
        }
        busy(submit, true);
        say("Saving…");
        try {
          const result = await api("PUT", `${API}/telephony`, { body: payload, etag });
          if (result.ok) {
            base = result.data;
            etag = result.headers.get("ETag") || etag;
            clearConflict();
            fill(base);
            say(`Saved: ${Object.keys(payload).map(labelOf).join(", ")}.`, "ok");
          } else if (result.status === 412) {
            await conflict();
          } else {
            showErrors(form, result);
          }
        } finally {
          busy(submit, false);
        }
      }),
    );

    form.elements.namedItem("provider").addEventListener("change", markActive);

    for (const button of $$("[data-replace]", form)) {
      button.addEventListener("click", () => {
        const control = form.elements.namedItem(button.dataset.replace);
        if (replacing.has(control.name)) {
          keepSecret(control);
          return;
        }
        replacing.add(control.name);
        control.readOnly = false;
        control.type = "password";
        control.value = "";
        control.placeholder = "new value";
        control.setAttribute("autocomplete", "new-password");
        button.textContent = "Keep current";
        control.focus();
      });
    }

    $("#reload").addEventListener(
      "click",
      guarded(async () => {
        await load();
        say("Reloaded the current settings.");
      }),
    );

    const live = {
      "provider.updated": async (message) => {
        if (!edited().size) {
          const current = await read();
          if (!current || !differing(base, current.values).length) return; // our own save, already shown
          base = current.values;
          etag = current.etag;
          clearConflict();
          fill(base);
          say(`The provider settings were changed by ${message.actor}; the form shows the new values.`);
        } else {
          say(
            `${message.actor} just saved the provider settings (${(message.changed || []).join(", ")}). ` +
              "Saving now will show you what changed; nothing is overwritten.",
          );
        }
      },
    };

    guarded(async () => follow(live, await load()))();
  }

  // -- Numbers ------------------------------------------------------------------------------------------------------

  const FILTERS = ["provider", "is_active", "phone_number", "agent"];
  const digits = (text) => String(text || "").replace(/\D/g, "");

  /** The cells of an endpoint's row (shared by the Numbers page and the History page's past state). */
  function endpointCells(endpoint, withCopy) {
    const text = (value) => el("td", value ? { text: value } : { class: "muted", text: EMPTY });
    const url = endpoint.inbound_webhook_url;
    const webhook = el("td", { class: "webhook" });
    if (url) {
      webhook.append(el("code", { text: url }));
      if (withCopy) webhook.append(" ", el("button", { type: "button", class: "small secondary", "data-action": "copy" }, "Copy"));
    } else {
      webhook.append(
        el("span", { class: "muted", title: "Needs the public base URL and an inbound agent", text: "not available yet" }),
      );
    }
    return [
      el("th", { scope: "row", text: endpoint.phone_number }),
      text(endpoint.provider),
      text(endpoint.inbound_agent_name),
      text(endpoint.outbound_agent_name),
      text(endpoint.label),
      el("td", { "data-active": String(endpoint.is_active), text: endpoint.is_active ? "Yes" : "No" }),
      webhook,
    ];
  }

  function numbersPage() {
    const table = $("#numbers");
    if (!table) return;
    const tbody = $("tbody", table);
    const filters = $("#filters");
    const state = { page: 1, pageSize: 50, total: 0, query: {} };
    // The ids whose creation or deletion this page has counted in ``state.total`` already: a change made here is
    // also announced by the stream, and must not count twice.
    const counted = { created: new Set(), removed: new Set() };
    let refreshTimer = null;

    // The filters and the page live in the page's URL, so a reload or a shared link shows the same rows.
    const params = new URLSearchParams(window.location.search);
    for (const name of [...FILTERS, "page_size"]) {
      if (params.get(name) !== null) filters.elements.namedItem(name).value = params.get(name);
    }
    state.page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);

    function readFilters() {
      const query = {};
      for (const name of FILTERS) {
        const value = filters.elements.namedItem(name).value.trim();
        if (value) query[name] = value;
      }
      state.query = query;
      state.pageSize = parseInt(filters.elements.namedItem("page_size").value, 10) || 50;
    }

    function writeUrl() {
      const search = new URLSearchParams(state.query);
      if (state.pageSize !== 50) search.set("page_size", String(state.pageSize));
      if (state.page > 1) search.set("page", String(state.page));
      const query = search.toString();
      window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
    }

    function matches(endpoint) {
      const q = state.query;
      return (
        (!q.provider || endpoint.provider === q.provider) &&
        (!q.is_active || String(endpoint.is_active) === q.is_active) &&
        (!q.phone_number || digits(q.phone_number) === digits(endpoint.phone_number)) &&
        (!q.agent || q.agent === endpoint.inbound_agent_name || q.agent === endpoint.outbound_agent_name)
      );
    }

    function row(endpoint) {
      const tr = el("tr", { "data-id": endpoint.id, "data-phone-number": endpoint.phone_number });
      tr.append(...endpointCells(endpoint, true));
      if (CAN_WRITE) {
        tr.append(
          el(
            "td",
            { class: "row-actions" },
            el("button", { type: "button", class: "small secondary", "data-action": "edit" }, "Edit"),
            " ",
            el("button", { type: "button", class: "small danger", "data-action": "delete" }, "Delete"),
          ),
        );
      }
      return tr;
    }

    const rowOf = (id) => tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);

    function flash(tr) {
      tr.classList.remove("flash");
      void tr.offsetWidth; // restart the animation
      tr.classList.add("flash");
    }

    function pager() {
      const pages = Math.max(1, Math.ceil(state.total / state.pageSize));
      const info = $("#page-info");
      info.dataset.total = String(state.total);
      info.textContent = `Page ${state.page} of ${pages} · ${state.total} ${state.total === 1 ? "number" : "numbers"}`;
      $("#prev").disabled = state.page <= 1;
      $("#next").disabled = state.page >= pages;
      $("#empty").hidden = tbody.rows.length > 0;
    }

    /** Read the current page; returns the settings version it reflects (X-Settings-Version). */
    async function refresh() {
      const search = new URLSearchParams({ ...state.query, page: String(state.page), page_size: String(state.pageSize) });
      const result = await api("GET", `${API}/endpoints?${search}`);
      if (!result.ok) {
        showErrors(filters, result);
        return null;
      }
      state.total = parseInt(result.headers.get("X-Total-Count") || String(result.data.length), 10);
      const pages = Math.max(1, Math.ceil(state.total / state.pageSize));
      if (!result.data.length && state.page > pages) {
        state.page = pages; // the page emptied (deletions): show the last one that has rows
        writeUrl();
        return refresh();
      }
      tbody.replaceChildren(...result.data.map(row));
      pager();
      return result.headers.get("X-Settings-Version");
    }

    function refreshSoon() {
      window.clearTimeout(refreshTimer);
      refreshTimer = window.setTimeout(guarded(refresh), 250);
    }

    /** Put an endpoint (created or changed, by anyone) where it belongs on this page. */
    function place(endpoint, { created = false } = {}) {
      const existing = rowOf(endpoint.id);
      if (existing) {
        if (matches(endpoint)) {
          const fresh = row(endpoint);
          existing.replaceWith(fresh);
          flash(fresh);
        } else {
          existing.remove();
          state.total = Math.max(0, state.total - 1);
        }
      } else if (matches(endpoint)) {
        if (!created) {
          refreshSoon(); // it now matches the filters: where it goes in creation order, the API says
          return;
        }
        if (counted.created.has(endpoint.id)) return;
        counted.created.add(endpoint.id);
        state.total += 1;
        const lastPage = state.page >= Math.ceil((state.total - 1) / state.pageSize);
        if (lastPage && tbody.rows.length < state.pageSize) {
          const fresh = row(endpoint);
          tbody.append(fresh);
          flash(fresh);
        }
      }
      pager();
    }

    function remove(endpoint) {
      if (counted.removed.has(endpoint.id)) return;
      counted.removed.add(endpoint.id);
      const existing = rowOf(endpoint.id);
      if (existing) existing.remove();
      if (existing || matches(endpoint)) state.total = Math.max(0, state.total - 1);
      pager();
    }

    filters.addEventListener(
      "submit",
      guarded(async (event) => {
        event.preventDefault();
        clearErrors(filters);
        readFilters();
        state.page = 1;
        writeUrl();
        await refresh();
      }),
    );
    $("#prev").addEventListener(
      "click",
      guarded(async () => {
        state.page = Math.max(1, state.page - 1);
        writeUrl();
        await refresh();
      }),
    );
    $("#next").addEventListener(
      "click",
      guarded(async () => {
        state.page += 1;
        writeUrl();
        await refresh();
      }),
    );

    tbody.addEventListener(
      "click",
      guarded(async (event) => {
        const button = event.target.closest("button[data-action]");
        if (!button) return;
        const tr = button.closest("tr");
        const { id, phoneNumber } = tr.dataset;
        if (button.dataset.action === "copy") await copy(tr, phoneNumber);
        else if (button.dataset.action === "edit") await openEdit(id, phoneNumber);
        else if (button.dataset.action === "delete") await openDelete(id, phoneNumber);
      }),
    );

    async function copy(tr, phoneNumber) {
      const code = $("td.webhook code", tr);
      const url = code.textContent;
      try {
        await navigator.clipboard.writeText(url);
        say(`Copied the inbound webhook URL of ${phoneNumber}: ${url}`, "ok");
      } catch {
        const range = document.createRange();
        range.selectNodeContents(code);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        say("This browser blocked copying: the URL is selected, press Ctrl+C (⌘C) to copy it.", "error");
      }
    }

    // -- create
    const createForm = $("#create-form");
    if (createForm) {
      createForm.addEventListener(
        "submit",
        guarded(async (event) => {
          event.preventDefault();
          clearErrors(createForm);
          const field = (name) => createForm.elements.namedItem(name);
          const payload = {
            phone_number: field("phone_number").value,
            provider: field("provider").value,
            is_active: field("is_active").checked,
          };
          for (const name of ["inbound_agent_name", "outbound_agent_name", "label"]) {
            if (field(name).value.trim() !== "") payload[name] = field(name).value;
          }
          const submit = $('button[type="submit"]', createForm);
          busy(submit, true);
          try {
            const result = await api("POST", `${API}/endpoints`, { body: payload });
            if (result.status === 201) {
              const endpoint = result.data;
              place(endpoint, { created: true });
              createForm.reset();
              const url = endpoint.inbound_webhook_url;
              say(
                url
                  ? `Created ${endpoint.phone_number}. Its inbound webhook URL: ${url}`
                  : `Created ${endpoint.phone_number}. It has no inbound webhook URL yet (it needs an inbound agent and the public base URL).`,
                "ok",
              );
            } else {
              showErrors(createForm, result, result.status === 409 ? "phone_number" : "body");
            }
          } finally {
            busy(submit, false);
          }
        }),
      );
    }

    // -- edit
    const editDialog = $("#edit-dialog");
    const editForm = $("#edit-form");
    const edit = { id: null, base: null, etag: null };
    const EDITABLE = ["inbound_agent_name", "outbound_agent_name", "label", "is_active"];

    const editValue = (name) => {
      const control = editForm.elements.namedItem(name);
      return control.type === "checkbox" ? control.checked : control.value;
    };
    const editedFields = () =>
      new Set(
        EDITABLE.filter((name) =>
          name === "is_active" ? editValue(name) !== edit.base.is_active : editValue(name) !== shown(edit.base[name]),
        ),
      );

    function fillEdit(values, keep = new Set()) {
      for (const name of EDITABLE) {
        if (keep.has(name)) continue;
        const control = editForm.elements.namedItem(name);
        if (control.type === "checkbox") control.checked = Boolean(values[name]);
        else control.value = shown(values[name]);
      }
    }

    async function readEndpoint(id) {
      const result = await api("GET", `${API}/endpoints/${encodeURIComponent(id)}`);
      if (result.status === 404) {
        const tr = rowOf(id);
        if (tr) remove({ id, ...tr.dataset });
        say("That number was deleted meanwhile.", "error");
        return null;
      }
      if (!result.ok) {
        say(problem(result), "error");
        return null;
      }
      return { values: result.data, etag: result.headers.get("ETag") };
    }

    async function openEdit(id, phoneNumber) {
      const current = await readEndpoint(id);
      if (!current) return;
      edit.id = id;
      edit.base = current.values;
      edit.etag = current.etag;
      clearErrors(editForm);
      $("#edit-conflict").hidden = true;
      $("[data-edit-number]", editForm).textContent = phoneNumber;
      fillEdit(edit.base);
      editDialog.showModal();
    }

    async function editConflict() {
      const mine = editedFields();
      const current = await readEndpoint(edit.id);
      if (!current) {
        editDialog.close();
        return;
      }
      const box = $("#edit-conflict");
      const list = $("[data-conflict-list]", box);
      list.replaceChildren();
      for (const name of differing(edit.base, current.values).filter((name) => EDITABLE.includes(name))) {
        const yours = mine.has(name) ? " (you changed it too: the form keeps your value)" : "";
        list.append(
          el("li", { "data-field": name }, el("strong", { text: name }), `: ${display(edit.base[name])} → ${display(current.values[name])}${yours}`),
        );
      }
      if (!list.children.length) list.append(el("li", { text: "Only its webhook URL changed (the public base URL)." }));
      edit.base = current.values;
      edit.etag = current.etag;
      fillEdit(edit.base, mine);
      place(current.values);
      box.hidden = false;
      say("Not saved: someone else changed this number meanwhile. Review and save again.", "error");
    }

    if (editForm) {
      editForm.addEventListener(
        "submit",
        guarded(async (event) => {
          event.preventDefault();
          clearErrors(editForm);
          const payload = {};
          for (const name of editedFields()) {
            const value = editValue(name);
            payload[name] = typeof value === "string" && value.trim() === "" ? null : value;
          }
          if (!Object.keys(payload).length) {
            editDialog.close();
            say("Nothing changed: nothing to save.");
            return;
          }
          const submit = $('button[type="submit"]', editForm);
          busy(submit, true);
          try {
            const result = await api("PUT", `${API}/endpoints/${encodeURIComponent(edit.id)}`, {
              body: payload,
              etag: edit.etag,
            });
            if (result.ok) {
              place(result.data);
              editDialog.close();
              say(`Saved ${result.data.phone_number}.`, "ok");
            } else if (result.status === 412) {
              await editConflict();
            } else if (result.status === 404) {
              editDialog.close();
              remove({ id: edit.id });
              say("That number was deleted meanwhile: nothing was saved.", "error");
            } else {
              showErrors(editForm, result, "body");
            }
          } finally {
            busy(submit, false);
          }
        }),
      );
    }

    // -- delete
    const deleteDialog = $("#delete-dialog");
    const doomed = { id: null, etag: null, phoneNumber: null, values: null };

    async function openDelete(id, phoneNumber) {
      const current = await readEndpoint(id);
      if (!current) return;
      Object.assign(doomed, { id, phoneNumber, etag: current.etag, values: current.values });
      clearErrors(deleteDialog);
      $("[data-delete-number]", deleteDialog).textContent = phoneNumber;
      deleteDialog.showModal();
    }

    if (deleteDialog) {
      $("#confirm-delete").addEventListener(
        "click",
        guarded(async () => {
          const button = $("#confirm-delete");
          busy(button, true);
          try {
            const result = await api("DELETE", `${API}/endpoints/${encodeURIComponent(doomed.id)}`, {
              etag: doomed.etag,
            });
            if (result.status === 204 || result.status === 404) {
              deleteDialog.close();
              remove(doomed.values);
              say(result.status === 204 ? `Deleted ${doomed.phoneNumber}.` : `${doomed.phoneNumber} was already deleted.`, "ok");
            } else if (result.status === 412) {
              const slot = $('[data-error-for="delete"]', deleteDialog);
              slot.textContent = "Someone else changed this number meanwhile: look at it again before deleting it.";
              const current = await readEndpoint(doomed.id);
              if (current) {
                place(current.values);
                doomed.etag = current.etag;
                doomed.values = current.values;
              }
            } else {
              $('[data-error-for="delete"]', deleteDialog).textContent = problem(result);
            }
          } finally {
            busy(button, false);
          }
        }),
      );
    }

    for (const button of $$("dialog [data-close]")) {
      button.addEventListener("click", () => button.closest("dialog").close());
    }

    const live = {
      "endpoint.created": (message) => place(message.endpoint, { created: true }),
      "endpoint.updated": (message) => place(message.endpoint),
      "endpoint.deleted": (message) => remove(message.endpoint),
      "provider.updated": (message) => {
        if (!message.changed || message.changed.includes("public_base_url")) refreshSoon();
      },
    };

    readFilters();
    guarded(async () => follow(live, await refresh()))();
  }

  // -- History ------------------------------------------------------------------------------------------------------

  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const when = (iso) => `${String(iso).replace("T", " ").slice(0, 19)} UTC`;

  /** One audit record as a timeline entry: what, who, when, which request, and each field's old → new. */
  function timelineEntry(event) {
    const data = event.data || {};
    const subject = data.phone_number || (event.type === "ProviderUpdated" ? "Provider settings" : event.aggregate_id);
    const item = el("li", { class: "event", "data-position": event.position, "data-type": event.type });
    item.append(
      el(
        "div",
        { class: "event-head" },
        el("span", { class: `badge type-${event.type}`, text: event.type }),
        " ",
        el("strong", { class: "subject", text: subject }),
        " ",
        el("time", { datetime: event.occurred_at, text: when(event.occurred_at) }),
      ),
    );
    const facts = el("dl", { class: "facts" });
    const fact = (term, value, hook) => {
      if (value === null || value === undefined || value === "") return;
      facts.append(el("dt", { text: term }), el("dd", { "data-fact": hook, text: value }));
    };
    fact("Who", event.actor, "actor");
    fact("When", event.occurred_at, "occurred_at");
    fact("Request", event.request_id, "request_id");
    fact("Change set", event.change_set, "change_set");
    fact("Position", event.position, "position");
    item.append(facts);

    let changes = [];
    if (data.changes) {
      changes = Object.entries(data.changes).map(([field, change]) => [
        field,
        "old" in change ? display(change.old) : "(not recorded)",
        display(change.new),
      ]);
    } else if (event.type === "EndpointCreated") {
      changes = Object.entries(data).map(([field, value]) => [field, EMPTY, display(value)]);
    }
    if (changes.length) {
      const table = el("table", { class: "data compact changes" });
      table.append(
        el(
          "thead",
          {},
          el("tr", {}, el("th", { scope: "col", text: "Field" }), el("th", { scope: "col", text: "Old → new" })),
        ),
      );
      const rows = el("tbody");
      for (const [field, before, after] of changes) {
        rows.append(
          el(
            "tr",
            { "data-field": field },
            el("th", { scope: "row", text: field }),
            el(
              "td",
              { class: "change" },
              el("span", { class: "old", "data-old": "", text: before }),
              el("span", { class: "arrow", text: " → " }),
              el("span", { class: "new", "data-new": "", text: after }),
            ),
          ),
        );
      }
      table.append(rows);
      item.append(table);
    } else if (event.type === "EndpointDeleted") {
      item.append(el("p", { class: "muted", text: "Deleted: the number was freed." }));
    }
    return item;
  }

  function historyPage() {
    const filters = $("#history-filters");
    if (!filters) return;
    const timeline = $("#timeline");
    const more = $("#more");
    let query = {};
    let nextAfter = null;

    function readFilters() {
      query = {};
      for (const name of ["phone_number", "aggregate_id", "actor", "type", "since", "until"]) {
        const value = filters.elements.namedItem(name).value.trim();
        if (value) query[name] = value;
      }
    }

    /** Load the next page of records; a narrow filter may need several reads to find any (the API reads a bounded
     * stretch of the log per request), so keep following ``next_after`` until something shows or the log ends. */
    async function load(append) {
      let after = append ? nextAfter : 0;
      if (!append) timeline.replaceChildren();
      for (let reads = 0; reads < 20; reads += 1) {
        const search = new URLSearchParams({ ...query, limit: "50" });
        if (after) search.set("after", String(after));
        const result = await api("GET", `/api/audit/events?${search}`);
        if (!result.ok) {
          showErrors(filters, result);
          return;
        }
        for (const event of result.data.events) timeline.append(timelineEntry(event));
        nextAfter = result.data.next_after;
        after = nextAfter;
        if (result.data.events.length || nextAfter === null || nextAfter === undefined) break;
      }
      more.hidden = nextAfter === null || nextAfter === undefined;
      $("#timeline-empty").hidden = timeline.children.length > 0;
    }

    filters.addEventListener(
      "submit",
      guarded(async (event) => {
        event.preventDefault();
        clearErrors(filters);
        const id = filters.elements.namedItem("aggregate_id").value.trim();
        if (id && !UUID.test(id)) {
          showErrors(filters, { status: 422, data: { detail: "Not a valid endpoint id.", errors: [{ field: "aggregate_id", message: "must be an endpoint's id (a UUID)" }] } });
          return;
        }
        readFilters();
        await load(false);
      }),
    );
    more.addEventListener("click", guarded(() => load(true)));

    // -- the settings as of a moment
    const asOfForm = $("#as-of-form");
    const asOf = { moment: null, page: 1, pageSize: 100 };

    async function showNumbersAsOf() {
      const search = new URLSearchParams({ as_of: asOf.moment, page: String(asOf.page), page_size: String(asOf.pageSize) });
      const result = await api("GET", `${API}/endpoints?${search}`);
      if (!result.ok) {
        showErrors(asOfForm, result);
        return false;
      }
      const total = parseInt(result.headers.get("X-Total-Count") || String(result.data.length), 10);
      const pages = Math.max(1, Math.ceil(total / asOf.pageSize));
      $("#as-of-numbers tbody").replaceChildren(
        ...result.data.map((endpoint) =>
          el("tr", { "data-id": endpoint.id, "data-phone-number": endpoint.phone_number }, ...endpointCells(endpoint, false)),
        ),
      );
      $("#as-of-count").textContent = `${total} ${total === 1 ? "number" : "numbers"} at that moment.`;
      $("#as-of-page-info").textContent = `Page ${asOf.page} of ${pages}`;
      $("#as-of-prev").disabled = asOf.page <= 1;
      $("#as-of-next").disabled = asOf.page >= pages;
      return true;
    }

    asOfForm.addEventListener(
      "submit",
      guarded(async (event) => {
        event.preventDefault();
        clearErrors(asOfForm);
        const moment = asOfForm.elements.namedItem("as_of").value.trim();
        if (!moment) {
          showErrors(asOfForm, { status: 422, data: { detail: "Choose a moment.", errors: [{ field: "as_of", message: "choose a date and time (UTC)" }] } });
          return;
        }
        const provider = await api("GET", `${API}/telephony?${new URLSearchParams({ as_of: moment })}`);
        if (!provider.ok) {
          showErrors(asOfForm, provider);
          return;
        }
        $("#as-of-provider tbody").replaceChildren(
          ...Object.entries(provider.data).map(([field, value]) =>
            el("tr", { "data-field": field }, el("th", { scope: "row", text: field }), el("td", { text: display(value) })),
          ),
        );
        Object.assign(asOf, { moment, page: 1 });
        if (await showNumbersAsOf()) {
          $("#as-of-result").hidden = false;
          say(`The settings as of ${moment.replace("T", " ")} UTC.`);
        }
      }),
    );
    $("#as-of-prev").addEventListener(
      "click",
      guarded(async () => {
        asOf.page = Math.max(1, asOf.page - 1);
        await showNumbersAsOf();
      }),
    );
    $("#as-of-next").addEventListener(
      "click",
      guarded(async () => {
        asOf.page += 1;
        await showNumbersAsOf();
      }),
    );

    readFilters();
    guarded(() => load(false))();
  }

  // -- start --------------------------------------------------------------------------------------------------------

  const pages = { provider: providerPage, numbers: numbersPage, history: historyPage };
  const start = pages[document.body.dataset.page];
  if (start) start();
})();
