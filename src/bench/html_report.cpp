#include "bench/html_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "bench/analysis.h"
#include "bench/compare.h"

namespace clipserve::bench {

using nlohmann::json;

std::string HtmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"};

std::string Fmt(double v, int prec = 1) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

struct Series {
  std::string name;
  std::vector<double> values;  // NaN = missing
};

double MaxOf(const std::vector<Series>& series) {
  double m = 0;
  for (const auto& s : series)
    for (double v : s.values)
      if (std::isfinite(v)) m = std::max(m, v);
  return m > 0 ? m : 1;
}

std::string Legend(const std::vector<Series>& series, int x, int y) {
  std::ostringstream o;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const int yy = y + static_cast<int>(i) * 16;
    o << "<rect x='" << x << "' y='" << yy << "' width='10' height='10' fill='" << kPalette[i % 8] << "'/>"
      << "<text x='" << x + 14 << "' y='" << yy + 9 << "' font-size='11'>" << HtmlEscape(series[i].name) << "</text>";
  }
  return o.str();
}

// Geometry shared by every chart: a 720x300 SVG with the plot area inset.
constexpr int kChartW = 720, kChartH = 300, kLeft = 60, kRight = 200, kTop = 30, kBottom = 40;
constexpr int kPlotW = kChartW - kLeft - kRight, kPlotH = kChartH - kTop - kBottom;

// Opens the SVG and draws the title, the horizontal grid with its tick
// labels (0..max in quarters) and the unit on the y axis.
void ChartFrame(std::ostringstream& o, const std::string& title, const std::string& unit, double max,
                int tick_decimals_below_10) {
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << kChartW << "' height='" << kChartH << "' role='img'>"
    << "<title>" << HtmlEscape(title) << "</title>"
    << "<text x='" << kLeft << "' y='18' font-size='14' font-weight='bold'>" << HtmlEscape(title) << "</text>";
  for (int t = 0; t <= 4; ++t) {
    const double v = max * t / 4;
    const int y = kTop + kPlotH - static_cast<int>(kPlotH * t / 4.0);
    o << "<line x1='" << kLeft << "' x2='" << kLeft + kPlotW << "' y1='" << y << "' y2='" << y << "' stroke='#ddd'/>"
      << "<text x='" << kLeft - 4 << "' y='" << y + 4 << "' font-size='10' text-anchor='end'>"
      << Fmt(v, v < 10 ? tick_decimals_below_10 : 0) << "</text>";
  }
  o << "<text x='12' y='" << kTop + kPlotH / 2 << "' font-size='11' transform='rotate(-90 12 " << kTop + kPlotH / 2
    << ")' text-anchor='middle'>" << HtmlEscape(unit) << "</text>";
}

// Grouped vertical bars: one group per category, one bar per series.
std::string BarChart(const std::string& title, const std::string& unit, const std::vector<std::string>& categories,
                     const std::vector<Series>& series) {
  const int left = kLeft, top = kTop, plot_w = kPlotW, plot_h = kPlotH;
  const double max = MaxOf(series) * 1.1;
  std::ostringstream o;
  ChartFrame(o, title, unit, max, 2);
  const std::size_t groups = std::max<std::size_t>(categories.size(), 1);
  const double gw = static_cast<double>(plot_w) / groups;
  const double bw = gw * 0.8 / std::max<std::size_t>(series.size(), 1);
  for (std::size_t g = 0; g < categories.size(); ++g) {
    const double gx = left + g * gw + gw * 0.1;
    for (std::size_t s = 0; s < series.size(); ++s) {
      const double v = g < series[s].values.size() ? series[s].values[g] : NAN;
      if (!std::isfinite(v)) continue;
      const double bh = plot_h * v / max;
      o << "<rect x='" << Fmt(gx + s * bw, 1) << "' y='" << Fmt(top + plot_h - bh, 1) << "' width='" << Fmt(bw * 0.92, 1)
        << "' height='" << Fmt(bh, 1) << "' fill='" << kPalette[s % 8] << "'><title>" << HtmlEscape(series[s].name) << " "
        << HtmlEscape(categories[g]) << ": " << Fmt(v, 2) << " " << HtmlEscape(unit) << "</title></rect>";
    }
    o << "<text x='" << Fmt(gx + gw * 0.4, 1) << "' y='" << top + plot_h + 16 << "' font-size='11' text-anchor='middle'>"
      << HtmlEscape(categories[g]) << "</text>";
  }
  o << Legend(series, left + plot_w + 16, top) << "</svg>";
  return o.str();
}

// Lines over the batch sizes, evenly spaced as categories.
std::string LineChart(const std::string& title, const std::string& unit, const std::vector<int>& xs,
                      const std::vector<Series>& series) {
  const int left = kLeft, top = kTop, plot_w = kPlotW, plot_h = kPlotH;
  const double max = MaxOf(series) * 1.1;
  std::ostringstream o;
  ChartFrame(o, title, unit, max, 0);
  auto xpos = [&](std::size_t i) { return left + (xs.size() <= 1 ? plot_w / 2.0 : plot_w * static_cast<double>(i) / (xs.size() - 1)); };
  for (std::size_t i = 0; i < xs.size(); ++i) {
    o << "<text x='" << Fmt(xpos(i), 1) << "' y='" << top + plot_h + 16 << "' font-size='11' text-anchor='middle'>batch "
      << xs[i] << "</text>";
  }
  for (std::size_t s = 0; s < series.size(); ++s) {
    std::string pts;
    for (std::size_t i = 0; i < xs.size() && i < series[s].values.size(); ++i) {
      const double v = series[s].values[i];
      if (!std::isfinite(v)) continue;
      const double y = top + plot_h - plot_h * v / max;
      pts += Fmt(xpos(i), 1) + "," + Fmt(y, 1) + " ";
      o << "<circle cx='" << Fmt(xpos(i), 1) << "' cy='" << Fmt(y, 1) << "' r='3' fill='" << kPalette[s % 8] << "'><title>"
        << HtmlEscape(series[s].name) << " batch " << xs[i] << ": " << Fmt(v, 1) << " " << HtmlEscape(unit) << "</title></circle>";
    }
    o << "<polyline fill='none' stroke-width='2' stroke='" << kPalette[s % 8] << "' points='" << pts << "'/>";
  }
  o << Legend(series, left + plot_w + 16, top) << "</svg>";
  return o.str();
}

// Horizontal stacked bars: one bar per row, segments per component.
std::string StackedBars(const std::string& title, const std::string& unit, const std::vector<std::string>& rows,
                        const std::vector<Series>& components) {
  const int row_h = 22, left = 220, plot_w = 300, top = 30;
  const int h = top + static_cast<int>(rows.size()) * row_h + 30 + static_cast<int>(components.size()) * 16;
  double max = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    double sum = 0;
    for (const auto& c : components)
      if (r < c.values.size() && std::isfinite(c.values[r])) sum += c.values[r];
    max = std::max(max, sum);
  }
  if (max <= 0) max = 1;
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='720' height='" << h << "' role='img'><title>" << HtmlEscape(title)
    << "</title><text x='10' y='18' font-size='14' font-weight='bold'>" << HtmlEscape(title) << "</text>";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const int y = top + static_cast<int>(r) * row_h;
    o << "<text x='" << left - 6 << "' y='" << y + 14 << "' font-size='11' text-anchor='end'>" << HtmlEscape(rows[r]) << "</text>";
    double x = left, sum = 0;
    for (std::size_t c = 0; c < components.size(); ++c) {
      const double v = r < components[c].values.size() ? components[c].values[r] : NAN;
      if (!std::isfinite(v) || v <= 0) continue;
      const double bw = plot_w * v / max;
      o << "<rect x='" << Fmt(x, 1) << "' y='" << y + 2 << "' width='" << Fmt(bw, 1) << "' height='" << row_h - 6
        << "' fill='" << kPalette[c % 8] << "'><title>" << HtmlEscape(components[c].name) << ": " << Fmt(v, 0) << " "
        << HtmlEscape(unit) << "</title></rect>";
      x += bw;
      sum += v;
    }
    o << "<text x='" << Fmt(x + 4, 1) << "' y='" << y + 14 << "' font-size='10'>" << Fmt(sum, 0) << " " << HtmlEscape(unit) << "</text>";
  }
  o << Legend(components, left, top + static_cast<int>(rows.size()) * row_h + 14) << "</svg>";
  return o.str();
}

std::string CompareHtml(const CompareTable& t) {
  std::ostringstream o;
  for (const auto& w : t.warnings) o << "<p class='warn'>WARNING: " << HtmlEscape(w) << " &mdash; do not compare these numbers directly.</p>";
  o << "<table><tr><th>metric</th>";
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    o << "<th>" << HtmlEscape(t.columns[i]) << "</th>";
    if (i > 0) o << "<th>&Delta;</th>";
  }
  o << "</tr>";
  for (const auto& r : t.rows) {
    o << "<tr><td>" << HtmlEscape(r.metric) << "</td>";
    for (std::size_t i = 0; i < r.values.size(); ++i) {
      o << "<td class='num'>" << Fmt(r.values[i], 2) << "</td>";
      if (i > 0) o << "<td class='num'>" << DeltaPercent(r.values[0], r.values[i]) << "</td>";
    }
    o << "</tr>";
  }
  o << "</table>";
  return o.str();
}

}  // namespace

std::string RenderHtmlReport(const std::vector<std::pair<std::string, const json*>>& docs) {
  const auto views = CollectBackends(docs);
  std::ostringstream o;
  o << "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>clipserve benchmark report</title><style>"
       "body{font-family:sans-serif;margin:24px;color:#222;max-width:1000px}"
       "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
       "td.num{text-align:right;font-family:monospace}.warn{background:#fde2e1;border:2px solid #c0392b;padding:8px;font-weight:bold}"
       "svg{display:block;margin:12px 0;background:#fafafa}</style></head><body>"
       "<h1>clipserve benchmark report</h1>";
  o << "<h2>Runs</h2><table><tr><th>file</th><th>timestamp</th><th>backends</th><th>GPU</th><th>host CPU</th><th>settings</th></tr>";
  for (const auto& [name, doc] : docs) {
    const json& d = *doc;
    std::string backends;
    for (const char* b : {"triton", "pytorch"})
      if (d.contains(b)) backends += std::string(backends.empty() ? "" : ", ") + b;
    const json cfg = d.value("config", json::object());
    std::string settings = "iterations " + cfg.value("iterations", json()).dump() + ", batch sizes " +
                           cfg.value("batch_sizes", json()).dump() + ", concurrency " + cfg.value("concurrency", json()).dump() +
                           ", requests " + cfg.value("concurrent_requests", json()).dump();
    const json gpu = d.value("gpu_specs", json::object());
    const json ctx = d.value("context", json::object());
    o << "<tr><td>" << HtmlEscape(name) << "</td><td>" << HtmlEscape(d.value("timestamp", "")) << "</td><td>"
      << HtmlEscape(backends) << "</td><td>"
      << HtmlEscape(gpu.contains("name") && gpu["name"].is_string() ? gpu["name"].get<std::string>() : "unavailable")
      << "</td><td>" << HtmlEscape(ctx.value("host", json::object()).value("cpu_model", "")) << "</td><td>"
      << HtmlEscape(settings) << "</td></tr>";
  }
  o << "</table>";

  std::vector<Series> lat;
  for (const auto& v : views) {
    Series s{v.label, {}};
    for (const char* k : {"p50_ms", "p90_ms", "p95_ms", "p99_ms"}) s.values.push_back(MetricOf(*v.data, std::string("single.") + k));
    lat.push_back(s);
  }
  o << "<h2>Single-image latency</h2>" << BarChart("Single-image latency percentiles", "ms", {"p50", "p90", "p95", "p99"}, lat);

  std::set<int> size_set;
  for (const auto& v : views)
    for (int n : BatchSizesOf(*v.data)) size_set.insert(n);
  std::vector<int> sizes(size_set.begin(), size_set.end());
  std::vector<Series> scaling;
  for (const auto& v : views) {
    Series s{v.label, {}};
    for (int n : sizes) s.values.push_back(MetricOf(*v.data, "batch_" + std::to_string(n) + ".images_per_sec"));
    scaling.push_back(s);
  }
  o << "<h2>Batch scaling</h2>" << LineChart("Images per second by batch size", "img/s", sizes, scaling);

  std::vector<Series> thr_series, p95_series;
  for (const auto& v : views) {
    thr_series.push_back({v.label, {MetricOf(*v.data, "concurrent.throughput_rps")}});
    p95_series.push_back({v.label, {MetricOf(*v.data, "concurrent.p50_ms"), MetricOf(*v.data, "concurrent.p95_ms"),
                                    MetricOf(*v.data, "concurrent.p99_ms")}});
  }
  o << "<h2>Concurrency</h2>" << BarChart("Concurrent throughput", "req/s", {"throughput"}, thr_series)
    << BarChart("Concurrent latency", "ms", {"p50", "p95", "p99"}, p95_series);

  std::vector<std::string> rows;
  std::vector<Series> parts = {{"queue", {}}, {"compute input", {}}, {"compute infer", {}}, {"compute output", {}}};
  for (const auto& v : views) {
    for (const auto& [phase, pj] : v.data->items()) {
      if (!pj.is_object() || !pj.contains("server") || !pj["server"].is_object()) continue;
      rows.push_back(v.label + " " + phase);
      parts[0].values.push_back(NumberAt(pj, "server.queue_us_per_request"));
      parts[1].values.push_back(NumberAt(pj, "server.compute_input_us_per_request"));
      parts[2].values.push_back(NumberAt(pj, "server.compute_infer_us_per_request"));
      parts[3].values.push_back(NumberAt(pj, "server.compute_output_us_per_request"));
    }
  }
  o << "<h2>Server time per request</h2>";
  if (rows.empty()) o << "<p>No per-phase server statistics in these files (REST backend, or metrics unreachable).</p>";
  o << StackedBars("Server time breakdown per request (from per-phase deltas)", "us", rows, parts);

  o << "<h2>Comparison</h2>" << CompareHtml(BuildCompareTable(views));
  o << "<h2>Trade-offs</h2><ul>";
  for (const auto& t : DeriveTradeoffs(views)) o << "<li>" << HtmlEscape(t) << "</li>";
  o << "</ul>";
  for (const auto& [name, doc] : docs) {
    if (doc->contains("parity") && (*doc)["parity"].is_object()) {
      o << "<h2>Parity (" << HtmlEscape(name) << ")</h2><p>status: " << HtmlEscape((*doc)["parity"].value("status", "")) << "</p><ul>";
      for (const auto& c : (*doc)["parity"].value("comparisons", json::array())) {
        o << "<li>" << HtmlEscape(c.value("a", "")) << " vs " << HtmlEscape(c.value("b", "")) << ": min cosine "
          << HtmlEscape(c["min_cosine"].dump()) << ", mean " << HtmlEscape(c["mean_cosine"].dump()) << "</li>";
      }
      o << "</ul>";
    }
    if (doc->contains("failures") && (*doc)["failures"].is_array() && !(*doc)["failures"].empty()) {
      o << "<h2>Failures (" << HtmlEscape(name) << ")</h2><ul>";
      for (const auto& f : (*doc)["failures"]) o << "<li>" << HtmlEscape(f.is_string() ? f.get<std::string>() : f.dump()) << "</li>";
      o << "</ul>";
    }
  }
  o << "</body></html>\n";
  return o.str();
}

}  // namespace clipserve::bench
