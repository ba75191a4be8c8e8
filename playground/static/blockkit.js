/* Block Kit, rendered the way Slack shows it (closely enough), from the blocks jitbot really sent.
 *
 * BlockKit.render(blocks, surface) returns a DOM node. `surface` says where the blocks live and what to do:
 *   directory          names of users, groups and channels, for mentions
 *   state              {block_id: {action_id: value}}: the form state (inputs, selects), kept by the caller
 *   errors             {block_id: message}: errors a modal submission got back
 *   act(block, el)     an interactive element was used (a button clicked, a dispatching select changed)
 *   suggest(block, action_id, text) -> Promise of options, for external selects
 *   confirm(obj) -> Promise of true/false, for a button's confirm object
 * Nothing is ever inserted as HTML: text becomes text nodes, so what the bot sends cannot run in the page.
 * A block or element this renderer does not know becomes a visible placeholder naming its type.
 */
"use strict";

const BlockKit = (() => {
  const EMOJI = {
    white_check_mark: "\u2705", x: "\u274c", hourglass: "\u231b", hourglass_flowing_sand: "\u23f3",
    warning: "\u26a0\ufe0f", unlock: "\ud83d\udd13", lock: "\ud83d\udd12", no_entry: "\u26d4",
    no_entry_sign: "\ud83d\udeab", alarm_clock: "\u23f0", gear: "\u2699\ufe0f", rotating_light: "\ud83d\udea8",
    boom: "\ud83d\udca5", key: "\ud83d\udd11", bell: "\ud83d\udd14", clock1: "\ud83d\udd50",
    information_source: "\u2139\ufe0f", hammer_and_wrench: "\ud83d\udee0\ufe0f", eyes: "\ud83d\udc40",
    stopwatch: "\u23f1\ufe0f", calendar: "\ud83d\udcc6", memo: "\ud83d\udcdd", broken_heart: "\ud83d\udc94",
    large_green_circle: "\ud83d\udfe2", red_circle: "\ud83d\udd34", heavy_check_mark: "\u2714\ufe0f",
    arrows_counterclockwise: "\ud83d\udd04", clipboard: "\ud83d\udccb", shield: "\ud83d\udee1\ufe0f",
  };

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function unknown(kind, type) {
    const node = el("div", "bk-unknown", `Unsupported ${kind}: ${type || "(no type)"}`);
    node.dataset.unknown = String(type || "");
    node.title = "The playground does not draw this Block Kit " + kind + "; Slack may.";
    return node;
  }

  function decode(text) {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  function emoji(text) {
    return text.replace(/:([a-z0-9_+-]+):/g, (all, name) => EMOJI[name] || all);
  }

  /* <@U1>, <#C1>, <!subteam^S1>, <!here>, <url|label>: one node each */
  function special(inner, directory) {
    const [target, label] = inner.split("|", 2);
    if (target.startsWith("@")) {
      return el("span", "bk-mention", "@" + (directory.users[target.slice(1)] || label || target.slice(1)));
    }
    if (target.startsWith("#")) {
      return el("span", "bk-mention", "#" + (directory.channels[target.slice(1)] || label || target.slice(1)));
    }
    if (target.startsWith("!subteam^")) {
      const id = target.slice("!subteam^".length);
      return el("span", "bk-mention", "@" + (directory.groups[id] || label || id));
    }
    if (target.startsWith("!")) return el("span", "bk-mention", "@" + (label || target.slice(1)));
    const link = el("a", "bk-link", decode(label || target));
    if (/^https?:\/\//.test(target)) { link.href = target; link.target = "_blank"; link.rel = "noopener noreferrer"; }
    return link;
  }

  /* inline formatting of one line; specials were replaced by \ue000<n>\ue001 markers */
  function inline(text, specials, parent) {
    const pattern = /(`[^`]+`)|(\*[^*\n]+\*)|(_[^_\n]+_)|(~[^~\n]+~)|(\ue000\d+\ue001)/g;
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      const token = match[0];
      if (match[1]) parent.appendChild(el("code", "bk-code", token.slice(1, -1)));
      else if (match[5]) parent.appendChild(specials[Number(token.slice(1, -1))]);
      else {
        const tag = { "*": "b", "_": "i", "~": "s" }[token[0]];
        inline(token.slice(1, -1), specials, parent.appendChild(el(tag)));
      }
      last = match.index + token.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function mrkdwn(raw, directory) {
    const out = el("div", "bk-mrkdwn");
    const specials = [];
    const text = emoji(decode(String(raw || "").replace(/<([^<>]+)>/g, (all, inner) => {
      specials.push(special(inner, directory));
      return "\ue000" + (specials.length - 1) + "\ue001";
    })));
    const parts = text.split("```");
    parts.forEach((part, i) => {
      if (i % 2 === 1) { out.appendChild(el("pre", "bk-pre", part.replace(/^\n/, ""))); return; }
      const lines = part.split("\n");
      lines.forEach((line, n) => {
        if (line.startsWith(">")) {
          inline(line.slice(1), specials, out.appendChild(el("div", "bk-quote")));
          return;
        }
        inline(line, specials, out);
        if (n < lines.length - 1) out.appendChild(el("br"));
      });
    });
    return out;
  }

  function text(obj, directory) {
    if (!obj) return el("span");
    if (typeof obj === "string") return mrkdwn(obj, directory);
    if (obj.type === "mrkdwn") return mrkdwn(obj.text, directory);
    return el("span", "bk-plain", emoji(obj.text || ""));
  }

  function plain(obj) {
    return obj ? emoji(typeof obj === "string" ? obj : obj.text || "") : "";
  }

  function stateOf(surface, blockId, actionId) {
    surface.state[blockId] = surface.state[blockId] || {};
    return surface.state[blockId][actionId];
  }

  function setState(surface, blockId, actionId, value) {
    surface.state[blockId] = surface.state[blockId] || {};
    surface.state[blockId][actionId] = value;
  }

  function button(element, blockId, surface) {
    const node = el("button", "bk-button" + (element.style ? " " + element.style : ""), plain(element.text));
    node.type = "button";
    node.dataset.actionId = element.action_id || "";
    node.dataset.value = element.value || "";
    node.addEventListener("click", async () => {
      if (element.confirm && !(await surface.confirm(element.confirm))) return;
      node.disabled = true;
      try {
        await surface.act(blockId, { type: "button", action_id: element.action_id, value: element.value,
                                     text: element.text, style: element.style });
      } finally { node.disabled = false; }
    });
    return node;
  }

  function optionsOf(element) {
    const groups = element.option_groups || [];
    return (element.options || []).concat(...groups.map((g) => g.options || []));
  }

  function selectChanged(element, blockId, surface, dispatch, option) {
    setState(surface, blockId, element.action_id, { type: element.type, selected_option: option });
    if (dispatch) surface.act(blockId, { type: element.type, action_id: element.action_id, selected_option: option });
  }

  function staticSelect(element, blockId, surface, dispatch) {
    const node = el("select", "bk-select");
    node.dataset.actionId = element.action_id || "";
    const options = optionsOf(element);
    const held = stateOf(surface, blockId, element.action_id);
    const chosen = held ? held.selected_option : element.initial_option;
    const none = el("option", null, plain(element.placeholder) || "Choose…");
    none.value = "";
    node.appendChild(none);
    options.forEach((option) => {
      const item = el("option", null, plain(option.text));
      item.value = option.value;
      item.selected = !!chosen && chosen.value === option.value;
      node.appendChild(item);
    });
    if (!held) setState(surface, blockId, element.action_id, { type: element.type, selected_option: chosen || null });
    node.addEventListener("change", () => {
      const option = options.find((o) => o.value === node.value) || null;
      selectChanged(element, blockId, surface, dispatch, option);
    });
    return node;
  }

  function externalSelect(element, blockId, surface, dispatch) {
    const box = el("div", "bk-typeahead");
    const input = el("input", "bk-input");
    input.type = "text";
    input.dataset.actionId = element.action_id || "";
    input.placeholder = plain(element.placeholder) || "Type to search";
    const list = el("ul", "bk-suggestions");
    list.hidden = true;
    const held = stateOf(surface, blockId, element.action_id);
    const chosen = held ? held.selected_option : element.initial_option;
    if (chosen) input.value = plain(chosen.text);
    if (!held) setState(surface, blockId, element.action_id, { type: element.type, selected_option: chosen || null });
    let asked = 0;
    const search = async () => {
      const query = input.value;
      if (query.length < (element.min_query_length ?? 3)) { list.hidden = true; return; }
      const mine = ++asked;
      const options = await surface.suggest(blockId, element.action_id, query);
      if (mine !== asked) return;
      list.replaceChildren();
      if (!options.length) list.appendChild(el("li", "bk-none", "No results"));
      options.forEach((option) => {
        const item = el("li", "bk-suggestion");
        item.appendChild(el("div", "bk-suggestion-text", plain(option.text)));
        if (option.description) item.appendChild(el("div", "bk-suggestion-desc", plain(option.description)));
        item.dataset.value = option.value;
        item.addEventListener("mousedown", (event) => {
          event.preventDefault();
          input.value = plain(option.text);
          list.hidden = true;
          selectChanged(element, blockId, surface, dispatch, option);
        });
        list.appendChild(item);
      });
      list.hidden = false;
    };
    let timer = null;
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
    input.addEventListener("focus", search);
    input.addEventListener("blur", () => { list.hidden = true; });
    box.append(input, list);
    return box;
  }

  function multiExternalSelect(element, blockId, surface, dispatch) {
    // the options picked, as chips with a remove button, then a typeahead to pick more (state: selected_options)
    const box = el("div", "bk-typeahead bk-multi");
    const chips = el("div", "bk-chips");
    const input = el("input", "bk-input");
    input.type = "text";
    input.dataset.actionId = element.action_id || "";
    input.placeholder = plain(element.placeholder) || "Type to search";
    const list = el("ul", "bk-suggestions");
    list.hidden = true;
    const held = stateOf(surface, blockId, element.action_id);
    let chosen = (held ? held.selected_options : element.initial_options) || [];
    const most = element.max_selected_items || 100;
    const changed = () => {
      setState(surface, blockId, element.action_id, { type: element.type, selected_options: chosen });
      if (dispatch) surface.act(blockId, { type: element.type, action_id: element.action_id, selected_options: chosen });
    };
    const draw = () => {
      chips.replaceChildren();
      chosen.forEach((option) => {
        const chip = el("span", "bk-chip", plain(option.text));
        const remove = el("button", "bk-chip-remove", "×");
        remove.type = "button";
        remove.addEventListener("click", () => {
          chosen = chosen.filter((o) => o.value !== option.value);
          draw();
          changed();
        });
        chip.appendChild(remove);
        chips.appendChild(chip);
      });
      input.disabled = chosen.length >= most;
    };
    if (!held) setState(surface, blockId, element.action_id, { type: element.type, selected_options: chosen });
    let asked = 0;
    const search = async () => {
      const query = input.value;
      if (query.length < (element.min_query_length ?? 3)) { list.hidden = true; return; }
      const mine = ++asked;
      const options = (await surface.suggest(blockId, element.action_id, query))
        .filter((o) => !chosen.some((c) => c.value === o.value));
      if (mine !== asked) return;
      list.replaceChildren();
      if (!options.length) list.appendChild(el("li", "bk-none", "No results"));
      options.forEach((option) => {
        const item = el("li", "bk-suggestion");
        item.appendChild(el("div", "bk-suggestion-text", plain(option.text)));
        if (option.description) item.appendChild(el("div", "bk-suggestion-desc", plain(option.description)));
        item.dataset.value = option.value;
        item.addEventListener("mousedown", (event) => {
          event.preventDefault();
          input.value = "";
          list.hidden = true;
          chosen = chosen.concat([option]);
          draw();
          changed();
        });
        list.appendChild(item);
      });
      list.hidden = false;
    };
    let timer = null;
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
    input.addEventListener("focus", search);
    input.addEventListener("blur", () => { list.hidden = true; });
    draw();
    box.append(chips, input, list);
    return box;
  }

  function textInput(element, blockId, surface) {
    const node = element.multiline ? el("textarea", "bk-input bk-textarea") : el("input", "bk-input");
    if (!element.multiline) node.type = "text";
    node.dataset.actionId = element.action_id || "";
    if (element.placeholder) node.placeholder = plain(element.placeholder);
    if (element.max_length) node.maxLength = element.max_length;
    const held = stateOf(surface, blockId, element.action_id);
    node.value = held ? held.value || "" : element.initial_value || "";
    if (!held) setState(surface, blockId, element.action_id, { type: element.type, value: node.value || null });
    node.addEventListener("input", () => {
      setState(surface, blockId, element.action_id, { type: element.type, value: node.value || null });
    });
    return node;
  }

  function radios(element, blockId, surface, dispatch) {
    const box = el("div", "bk-radios");
    const held = stateOf(surface, blockId, element.action_id);
    const chosen = held ? held.selected_option : element.initial_option;
    if (!held) setState(surface, blockId, element.action_id, { type: element.type, selected_option: chosen || null });
    const name = "r-" + blockId + "-" + element.action_id;
    (element.options || []).forEach((option) => {
      const label = el("label", "bk-radio");
      const input = el("input");
      input.type = "radio";
      input.name = name;
      input.value = option.value;
      input.checked = !!chosen && chosen.value === option.value;
      input.addEventListener("change", () => selectChanged(element, blockId, surface, dispatch, option));
      label.append(input, text(option.text, surface.directory));
      if (option.description) label.appendChild(el("div", "bk-hint", plain(option.description)));
      box.appendChild(label);
    });
    return box;
  }

  function element(element, blockId, surface, dispatch) {
    switch (element && element.type) {
      case "button": return button(element, blockId, surface);
      case "static_select": return staticSelect(element, blockId, surface, dispatch);
      case "external_select": return externalSelect(element, blockId, surface, dispatch);
      case "multi_external_select": return multiExternalSelect(element, blockId, surface, dispatch);
      case "plain_text_input": return textInput(element, blockId, surface);
      case "radio_buttons": return radios(element, blockId, surface, dispatch);
      case "image": return el("span", "bk-image", "[image: " + (element.alt_text || "") + "]");
      default: return unknown("element", element && element.type);
    }
  }

  function block(item, surface, index) {
    const blockId = item.block_id || "b" + index;
    const d = surface.directory;
    switch (item.type) {
      case "header": return el("div", "bk-header", plain(item.text));
      case "divider": return el("hr", "bk-divider");
      case "section": {
        const node = el("div", "bk-section");
        const body = node.appendChild(el("div", "bk-section-body"));
        if (item.text) body.appendChild(text(item.text, d));
        if (item.fields) {
          const grid = body.appendChild(el("div", "bk-fields"));
          item.fields.forEach((f) => grid.appendChild(el("div", "bk-field")).appendChild(text(f, d)));
        }
        if (item.accessory) node.appendChild(el("div", "bk-accessory")).appendChild(element(item.accessory, blockId, surface, true));
        return node;
      }
      case "context": {
        const node = el("div", "bk-context");
        (item.elements || []).forEach((e) => {
          if (e.type === "mrkdwn" || e.type === "plain_text") node.appendChild(text(e, d));
          else node.appendChild(element(e, blockId, surface, false));
        });
        return node;
      }
      case "actions": {
        const node = el("div", "bk-actions");
        node.dataset.blockId = blockId;
        (item.elements || []).forEach((e) => node.appendChild(element(e, blockId, surface, true)));
        return node;
      }
      case "input": {
        const node = el("div", "bk-input-block");
        node.dataset.blockId = blockId;
        const label = node.appendChild(el("label", "bk-label", plain(item.label)));
        if (item.optional) label.appendChild(el("span", "bk-optional", " (optional)"));
        node.appendChild(element(item.element, blockId, surface, !!item.dispatch_action));
        if (item.hint) node.appendChild(el("div", "bk-hint", plain(item.hint)));
        const error = surface.errors && surface.errors[blockId];
        if (error) node.appendChild(el("div", "bk-error", error));
        return node;
      }
      case "image": return el("div", "bk-image", "[image: " + (item.alt_text || "") + "]");
      default: return unknown("block", item.type);
    }
  }

  function render(blocks, surface) {
    const out = el("div", "bk-blocks");
    (blocks || []).forEach((item, index) => {
      try { out.appendChild(block(item || {}, surface, index)); }
      catch (err) { out.appendChild(unknown("block", (item && item.type) + " (" + err.message + ")")); }
    });
    return out;
  }

  return { render, mrkdwn, plain, el };
})();
