"""A Vega-Lite chart widget that is drawn once and then only fed new data (issue 13, page speed).

Solara's own ``VegaLite`` widget takes the spec with its data inlined as one nested dict. Every week
that meant, for each of the six charts: the page's renderer (reacton) walking every row of every
dataset looking for child components (its largest single cost, growing with the weeks shown), the
whole spec compared and sent again, and in the browser the chart compiled from Vega-Lite and drawn
from scratch by vega-embed, 100 ms later.

:class:`Chart` keeps the spec and the data apart, both as JSON text (which the renderer does not
walk): the spec is built once per chart shape and sent once; each week only ``tables`` changes, a
columnar JSON object ``{dataset: {column: [values]}}``, and the browser swaps the rows of the
existing Vega view (``view.data(name, rows)``) and re-runs its dataflow instead of embedding the
chart again. A changed spec (a new chart shape) is embedded afresh.
"""

from __future__ import annotations

import json
import math
from typing import Any

import ipyvuetify as v
import numpy as np
import traitlets

TEMPLATE = """
<template>
    <div><div ref="plot"></div></div>
</template>
<script>
module.exports = {
    mounted() {
        this.vegaLoaded = this.loadVega();
        this.draw();
    },
    destroyed() {
        if (this.view) { this.view.finalize(); this.view = null; }
    },
    unmounted() {
        this.$options.destroyed.call(this);
    },
    watch: {
        spec() { this.draw(); },
        tables() { this.update(); },
    },
    methods: {
        datasets() {
            const out = {};
            for (const [name, cols] of Object.entries(JSON.parse(this.tables || "{}"))) {
                const keys = Object.keys(cols), n = keys.length ? cols[keys[0]].length : 0, rows = new Array(n);
                for (let i = 0; i < n; i++) {
                    const row = {};
                    for (const k of keys) row[k] = cols[k][i];
                    rows[i] = row;
                }
                out[name] = rows;
            }
            return out;
        },
        async draw() {
            const token = this.drawn = (this.drawn || 0) + 1;
            await this.vegaLoaded;
            // requirejs ignores an async callback (it checks for "[object Function]"), so this one is not async
            require(['vega-embed'], (vegaEmbed) => this.embed(vegaEmbed, token));
        },
        async embed(vegaEmbed, token) {
            if (token !== this.drawn) return;
            const data = this.tables;
            const spec = {...JSON.parse(this.spec), datasets: this.datasets()};
            const result = await vegaEmbed(this.$refs.plot, spec, {actions: false, renderer: "svg"});
            if (token !== this.drawn) { result.finalize(); return; }
            if (this.view) this.view.finalize();
            this.view = result.view;
            this.shown = data;
            if (this.tables !== this.shown) this.update();
        },
        async update() {
            if (!this.view || this.tables === this.shown) return;  // a draw under way picks up the latest data
            const data = this.tables;
            for (const [name, rows] of Object.entries(this.datasets())) this.view.data(name, rows);
            this.shown = data;
            await this.view.runAsync();
        },
        async loadVega() {
            await this.loadRequire();
            if (!window.__outsimVega) {
                requirejs.undef("vega");
                requirejs.undef("vega-lite");
                requirejs.undef("vega-embed");
                require.config({map: {'*': {
                    'vega': `${this.getCdn()}/vega@5/build/vega.min.js`,
                    'vega-lite': `${this.getCdn()}/vega-lite@5/build/vega-lite.min.js`,
                    'vega-embed': `${this.getCdn()}/vega-embed@6/build/vega-embed.min.js`,
                }}});
                window.__outsimVega = new Promise((resolve, reject) => require(['vega', 'vega-lite', 'vega-embed'],
                                                                             () => resolve(), reject));
            }
            await window.__outsimVega;
        },
        loadRequire() {
            if (window.requirejs) return Promise.resolve();
            return new Promise((resolve, reject) => {
                const script = document.createElement('script');
                script.src = `${this.getCdn()}/requirejs@2.3.6/require.js`;
                script.onload = resolve;
                script.onerror = reject;
                document.head.appendChild(script);
            });
        },
        getBaseUrl() {
            if (document.getElementsByTagName("base").length) return "./";
            const labConfigData = document.getElementById('jupyter-config-data');
            if (labConfigData) return JSON.parse(labConfigData.textContent).baseUrl;
            let base = document.body.dataset.baseUrl || document.baseURI;
            return base.endsWith('/') ? base : base + '/';
        },
        getCdn() {
            return this.cdn || (window.solara ? window.solara.cdn : `${this.getBaseUrl()}_solara/cdn`);
        },
    },
}
</script>
"""


class Chart(v.VuetifyTemplate):
    """One Vega-Lite chart: ``spec`` (JSON text, named datasets without values) and ``tables`` (JSON text,
    ``{dataset: {column: [values]}}``); the browser updates the drawn view when only ``tables`` changes."""

    template = traitlets.Unicode(TEMPLATE).tag(sync=True)
    spec = traitlets.Unicode("{}").tag(sync=True)
    tables = traitlets.Unicode("{}").tag(sync=True)
    cdn = traitlets.Unicode(None, allow_none=True).tag(sync=True)

    @traitlets.default("cdn")
    def _cdn(self):
        import solara.settings

        if not solara.settings.assets.proxy:
            return solara.settings.assets.cdn
        return None


def columns_json(data: dict[str, dict[str, Any]]) -> str:
    """Tables as the JSON text :class:`Chart` takes: ``{name: {column: [values]}}``, from ``{name: {column:
    numpy array or list}}``; NaN and infinities as null (which Vega-Lite skips), numpy scalars as plain numbers."""
    return json.dumps({name: {str(col): _json_column(values) for col, values in table.items()}
                       for name, table in data.items()}, separators=(",", ":"))


def plain_values(values: np.ndarray | list) -> list:
    """A column as a list of plain Python values (numpy scalars as Python numbers)."""
    if isinstance(values, np.ndarray):
        return values.tolist()
    return [x.item() if isinstance(x, np.generic) else x for x in values]


def _json_column(values: np.ndarray | list) -> list:
    """:func:`plain_values` with NaN and infinities as None (JSON has neither)."""
    out = plain_values(values)
    if isinstance(values, np.ndarray) and (values.dtype.kind != "f" or np.isfinite(values).all()):
        return out
    return [None if isinstance(x, float) and not math.isfinite(x) else x for x in out]
