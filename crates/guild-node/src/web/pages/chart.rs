//! Charts drawn on the server as SVG: no script, no network, nothing the page's content policy
//! (`default-src 'none'; style-src 'self'`) refuses — shapes carry classes styled by `app.css`
//! and geometry as attributes, never inline styles.
//!
//! The view box is 360 units wide, about a phone's width in CSS pixels, so a 12-unit label is
//! 12 pixels on a phone and scales up to the figure's largest width on a desktop. A hidden count
//! ("< 5", see `guild_core::control::reflect`) is drawn as an outlined stub labelled "< 5", never
//! as a bar of a guessed height.

use maud::{html, Markup};

/// Width of every chart's view box.
const WIDTH: f64 = 360.0;
/// Height of one row of a horizontal bar chart.
const ROW: f64 = 26.0;
/// Width kept for the labels of a horizontal bar chart.
const LABEL: f64 = 110.0;
/// Width kept for the value printed after a bar.
const VALUE: f64 = 64.0;

/// One bar of a horizontal chart: a label, a value (`None`: hidden) and the text printed.
pub struct HBar {
    /// The label (a tag).
    pub label: String,
    /// The bar's length, in the chart's unit; `None` draws the hidden stub.
    pub value: Option<f64>,
    /// What is printed after the bar.
    pub text: String,
}

/// A horizontal bar chart: one row per item, longest value spanning the width.
pub fn hbars(id: &str, title: &str, bars: &[HBar]) -> Markup {
    let max = bars
        .iter()
        .filter_map(|b| b.value)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let span = WIDTH - LABEL - VALUE;
    let height = ROW * bars.len().max(1) as f64 + 8.0;
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-labelledby={ (id) "-t" } xmlns="http://www.w3.org/2000/svg" {
            title id={ (id) "-t" } { (title) }
            @for (i, b) in bars.iter().enumerate() {
                @let y = 4.0 + ROW * i as f64;
                g.row {
                    text.label x=(LABEL - 6.0) y=(y + 17.0) text-anchor="end" { (clip(&b.label, 16)) }
                    @match b.value {
                        Some(v) => {
                            @let w = (span * v / max).max(1.0);
                            rect.bar x=(LABEL) y=(y + 4.0) width=(fmt(w)) height=(ROW - 8.0) {}
                            text.value x=(fmt(LABEL + w + 4.0)) y=(y + 17.0) { (b.text) }
                        }
                        None => {
                            rect.hidden x=(LABEL) y=(y + 4.0) width="12" height=(ROW - 8.0) {}
                            text.value x=(LABEL + 16.0) y=(y + 17.0) { (b.text) }
                        }
                    }
                }
            }
        }
    }
}

/// One series of a column chart: a class (colour) and a value per category (`None`: hidden).
pub struct Series {
    /// Its name in the legend.
    pub name: &'static str,
    /// The CSS class of its bars (`a`, `b`).
    pub class: &'static str,
    /// One value per category.
    pub values: Vec<Option<u64>>,
}

/// A grouped column chart: categories along the bottom (labelled sparsely when many), one bar
/// per series in each, a legend on top.
pub fn columns(id: &str, title: &str, categories: &[String], series: &[Series]) -> Markup {
    let height = 200.0;
    let (top, bottom, left) = (26.0, 22.0, 30.0);
    let plot_h = height - top - bottom;
    let plot_w = WIDTH - left - 6.0;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = categories.len().max(1);
    let slot = plot_w / n as f64;
    // At most 28 units wide, so that a chart of one month does not become two slabs.
    let bar = (slot * 0.8 / series.len().max(1) as f64).clamp(1.0, 28.0);
    let group = bar * series.len() as f64;
    // At most about 6 category labels fit on a phone.
    let every = n.div_ceil(6);
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-labelledby={ (id) "-t" } xmlns="http://www.w3.org/2000/svg" {
            title id={ (id) "-t" } { (title) }
            @for (j, s) in series.iter().enumerate() {
                @let x = left + 90.0 * j as f64;
                rect class={ "bar " (s.class) } x=(x) y="6" width="12" height="12" {}
                text.legend x=(x + 16.0) y="16" { (s.name) }
            }
            line.axis x1=(left) y1=(top + plot_h) x2=(WIDTH - 6.0) y2=(top + plot_h) {}
            text.tick x=(left - 4.0) y=(top + 4.0) text-anchor="end" { (max as u64) }
            text.tick x=(left - 4.0) y=(top + plot_h) text-anchor="end" { "0" }
            @for (i, c) in categories.iter().enumerate() {
                @let x0 = left + slot * i as f64 + (slot - group) / 2.0;
                @for (j, s) in series.iter().enumerate() {
                    @let x = x0 + bar * j as f64;
                    @match s.values.get(i).copied().flatten() {
                        Some(v) => {
                            @let h = plot_h * v as f64 / max;
                            rect class={ "bar " (s.class) } x=(fmt(x)) y=(fmt(top + plot_h - h)) width=(fmt(bar)) height=(fmt(h)) {
                                title { (c) ": " (v) " " (s.name) }
                            }
                        }
                        None => {
                            rect.hidden x=(fmt(x)) y=(fmt(top + plot_h - 10.0)) width=(fmt(bar)) height="10" {
                                title { (c) ": < 5 " (s.name) }
                            }
                        }
                    }
                }
                @if i % every == 0 {
                    text.tick x=(fmt(left + slot * (i as f64 + 0.5))) y=(height - 6.0) text-anchor="middle" { (c) }
                }
            }
        }
    }
}

fn fmt(x: f64) -> String {
    format!("{x:.1}")
}

/// A label cut to `n` characters with an ellipsis.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
