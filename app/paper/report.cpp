// The report of `dalenet paper`: reads the finished units' files, computes every table and
// verdict (verdict.cpp holds the rules), draws the figures with gnuplot, and writes
// results.json, summary.md and index.html atomically.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "dalenet/analyze.hpp"
#include "dalenet/error.hpp"
#include "dalenet/io.hpp"
#include "dalenet/paper.hpp"
#include "dalenet/stats.hpp"
#include "dalenet/verdict.hpp"

namespace dalenet {
namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw IoError("report: cannot read " + path);
  try {
    return nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw InputError("report: " + path + " is not valid JSON (" + e.what() + "); delete its unit folder to redo it");
  }
}

std::string dataset_title(const std::string& d) {
  return d == "mnist" ? "MNIST" : d == "fashion" ? "Fashion-MNIST" : d;
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

// Mean and 95 % half-width over seeds; half-width NaN with one seed.
struct Summary {
  double mean = std::nan(""), ci = std::nan("");
  std::size_t n = 0;
};
Summary summarise(const std::vector<double>& x) {
  if (x.empty()) return {};
  const auto m = stats::mean_ci95(x);
  return {m.mean, m.half_width, m.n};
}
std::string pct(const Summary& s) {
  if (s.n == 0 || !std::isfinite(s.mean)) return "–";
  return std::isfinite(s.ci) ? fmt::format("{:.1f} ± {:.1f}", 100 * s.mean, 100 * s.ci)
                             : fmt::format("{:.1f}", 100 * s.mean);
}
// A label inside a single-quoted gnuplot string (enhanced text mode: '_' would subscript).
std::string gp_label(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '_' ? std::string("\\_") : std::string(1, c);
  return o;
}
std::string num(double x, int digits = 3) {
  return std::isfinite(x) ? fmt::format("{:.{}f}", x, digits) : "–";
}
double number(const nlohmann::json& j) {
  return j.is_number() ? j.get<double>() : std::nan("");
}

// A simple table rendered both as Markdown and as HTML.
struct Table {
  std::vector<std::string> head;
  std::vector<std::vector<std::string>> rows;
  bool numeric = true;  // Markdown: right-align every column but the first
  static std::string md_cell(const std::string& c) {
    std::string o;
    for (char ch : c) o += ch == '|' ? std::string("\\|") : std::string(1, ch);
    return o;
  }
  std::string markdown() const {
    std::string s = "|";
    for (const auto& h : head) s += " " + md_cell(h) + " |";
    s += "\n|";
    for (std::size_t i = 0; i < head.size(); ++i) s += i == 0 || !numeric ? "---|" : "---:|";
    s += "\n";
    for (const auto& r : rows) {
      s += "|";
      for (const auto& c : r) s += " " + md_cell(c) + " |";
      s += "\n";
    }
    return s;
  }
  std::string html() const {
    std::string s = "<table><thead><tr>";
    for (const auto& h : head) s += "<th>" + html_escape(h) + "</th>";
    s += "</tr></thead><tbody>\n";
    for (const auto& r : rows) {
      s += "<tr>";
      for (const auto& c : r) s += "<td>" + html_escape(c) + "</td>";
      s += "</tr>\n";
    }
    return s + "</tbody></table>\n";
  }
};

// The report's two renderings, written side by side.
struct Doc {
  std::string md, html;
  void heading(const std::string& text, const std::string& anchor) {
    md += "\n## " + text + "\n\n";
    html += "<h2 id=\"" + anchor + "\">" + html_escape(text) + "</h2>\n";
  }
  void sub(const std::string& text) {
    md += "\n### " + text + "\n\n";
    html += "<h3>" + html_escape(text) + "</h3>\n";
  }
  void para(const std::string& text) {
    md += text + "\n\n";
    // `code` spans become <code> elements
    std::string h = html_escape(text), out;
    bool open = false;
    for (char c : h) {
      if (c == '`') {
        out += open ? "</code>" : "<code>";
        open = !open;
      } else {
        out += c;
      }
    }
    if (open) out += "</code>";
    html += "<p>" + out + "</p>\n";
  }
  void table(const Table& t) {
    md += t.markdown() + "\n";
    html += t.html();
  }
  void figure(const std::string& file, const std::string& caption, bool has_svg = true) {
    md += "![" + caption + "](figures/" + file + ".png)\n\n";
    html += "<figure><img src=\"figures/" + file + ".png\" alt=\"" + html_escape(caption) + "\"><figcaption>" +
            html_escape(caption) + (has_svg ? " (<a href=\"figures/" + file + ".svg\">SVG</a>)" : std::string()) +
            "</figcaption></figure>\n";
  }
};

// Runs gnuplot on `body` twice (PNG, then SVG) in the figures folder.
void plot(const std::string& dir, const std::string& name, const std::string& body, int width = 900, int height = 540) {
  std::string gp = fmt::format("set terminal pngcairo size {},{} font ',10'\nset output '{}.png'\n{}\nunset output\n",
                               width, height, name, body);
  gp += fmt::format("set terminal svg size {},{} dynamic font ',10'\nset output '{}.svg'\n{}\nunset output\n", width,
                    height, name, body);
  write_file_atomic(dir + "/" + name + ".gp", gp);
  const std::string cmd = fmt::format("cd '{}' && gnuplot '{}.gp' > '{}.log' 2>&1", dir, name, name);
  if (std::system(cmd.c_str()) != 0) {  // NOLINT(cert-env33-c): a fixed command line, no user shell input
    std::ifstream log(dir + "/" + name + ".log");
    std::stringstream ss;
    ss << log.rdbuf();
    throw Error("report: gnuplot failed on " + dir + "/" + name +
                ".gp (is gnuplot installed? `make deps`): " + ss.str());
  }
}

// The plot clauses of a curves-with-CI-bands figure: data block i of `dat` holds arm i as
// "x mean lo hi" rows; each arm gets a translucent band and a line in its own colour.
std::string band_plots(const std::string& dat, const std::vector<std::string>& arms) {
  std::string plots;
  for (std::size_t i = 0; i < arms.size(); ++i)
    plots += fmt::format(
        "{}'{}' index {} using 1:3:4 with filledcurves fs transparent solid 0.18 lc {} notitle, "
        "'' index {} using 1:2 with linespoints lw 2 lc {} title '{}'",
        i ? ", " : "", dat, i, i + 1, i, i + 1, gp_label(arms[i]));
  return plots;
}

// The lowest Dale compliance over the projections of a `dalenet analyze` document.
double min_dale_compliance(const nlohmann::json& analysis) {
  double compliance = 1.0;
  for (const auto& p : analysis.at("projections"))
    compliance = std::min(compliance, p.at("dale").at("compliance").get<double>());
  return compliance;
}

// One arm's row of the report's audit table (results.json "audit"), from its analysis document:
// every number on the strength the forward pass uses; the latent silent fraction beside it.
nlohmann::json audit_row(const nlohmann::json& an, const std::string& dataset, const std::string& arm,
                         std::int64_t seed) {
  const auto& p0 = an.at("projections").at(0);
  const auto& sp = p0.at("sparsity");
  const auto& pos = p0.at("distribution").at("positive");
  int over = 0;
  if (pos.contains("vuong_lognormal_vs"))
    for (const auto& [fam, test] : pos["vuong_lognormal_vs"].items())
      over += test.value("preferred", "") == "lognormal" && test.value("p_value", 1.0) < 0.01 ? 1 : 0;
  const auto counters = an.value("counters", nlohmann::json::object());
  const auto& act = an.contains("activity") ? an["activity"].at(0) : nlohmann::json::object();
  const double latent = an.contains("latent")
                            ? an["latent"]["projections"].at(0).at("sparsity").at("silent_fraction").get<double>()
                            : std::nan("");
  const double absolute_p =
      pos.contains("absolute_fit") ? pos["absolute_fit"].at("p_value").get<double>() : std::nan("");
  return {{"dataset", dataset},
          {"arm", arm},
          {"seed", seed},
          {"silent_fraction", sp.at("silent_fraction")},
          {"silent_fraction_active_inputs", sp.value("silent_fraction_active_inputs", std::nan(""))},
          {"latent_silent_fraction", latent},
          {"dale_compliance_in", p0.at("dale").at("compliance")},
          {"dale_compliance_out", an.at("projections").back().at("dale").at("compliance")},
          {"dale_compliance_min", min_dale_compliance(an)},
          {"sign_flips", counters.value("sign_flips", std::int64_t{0})},
          {"clip_events", counters.value("clip_events", std::int64_t{0})},
          {"lognormal_preferred_over", over},
          {"absolute_fit_p", absolute_p},
          {"log_mean", pos.value("log_mean", std::nan(""))},
          {"log_sd", pos.value("log_sd", std::nan(""))},
          {"log_skewness", pos.value("log_skewness", std::nan(""))},
          {"hidden_realised", an.at("projections").back().at("dale").at("realised")},
          {"fraction_active", act.value("fraction_active", std::nan(""))},
          {"population_sparseness", act.value("population_sparseness", std::nan(""))}};
}

std::vector<std::string> audit_cells(const nlohmann::json& row) {
  const auto& realised = row.at("hidden_realised");
  return {row.at("arm").get<std::string>(),
          num(number(row.at("silent_fraction_active_inputs"))),
          num(number(row.at("silent_fraction"))),
          num(number(row.at("latent_silent_fraction"))),
          fmt::format("{} / {}", num(number(row.at("dale_compliance_in")), 4),
                      num(number(row.at("dale_compliance_out")), 4)),
          std::to_string(row.at("sign_flips").get<std::int64_t>()),
          std::to_string(row.at("clip_events").get<std::int64_t>()),
          std::to_string(row.at("lognormal_preferred_over").get<int>()),
          num(number(row.at("absolute_fit_p"))),
          num(number(row.at("log_mean")), 2),
          num(number(row.at("log_sd")), 2),
          num(number(row.at("log_skewness")), 2),
          fmt::format("{} / {} / {}", realised.value("excitatory", 0), realised.value("inhibitory", 0),
                      realised.value("mixed", 0)),
          num(number(row.at("fraction_active"))),
          num(number(row.at("population_sparseness")))};
}

// The normal QQ plot of ln strength (the audit's "qq" points) for the bio model's learned and
// initial input→hidden strengths and, where the config has them, the random-features control and
// BP; a lognormal sample lies on the diagonal.
void plot_qq(const std::string& figdir, const std::string& d,
             const std::vector<std::pair<std::string, const nlohmann::json*>>& dists) {
  std::string dat, plots;
  int index = 0;
  for (const auto& [label, dist] : dists) {
    if (dist == nullptr || !dist->contains("qq") || dist->at("qq").empty()) continue;
    dat += "# " + label + "\n";
    for (const auto& pt : dist->at("qq")) dat += fmt::format("{} {}\n", pt.at(0).get<double>(), pt.at(1).get<double>());
    dat += "\n\n";
    // Distinct shapes and colours: the rf control is the bio rule's frozen initial layer, so those
    // two series coincide and must stay readable on top of each other.
    static constexpr std::array<const char*, 5> kColours = {"#1b9e77", "#377eb8", "#e66101", "#7b3294", "#b2182b"};
    static constexpr std::array<int, 5> kShapes = {7, 4, 8, 6, 13};
    plots += fmt::format("{}'qq_{}.dat' index {} using 1:2 with points pt {} ps 0.7 lc rgb '{}' title '{}'",
                         index ? ", " : "", d, index, kShapes.at(static_cast<std::size_t>(index) % kShapes.size()),
                         kColours.at(static_cast<std::size_t>(index) % kColours.size()), gp_label(label));
    ++index;
  }
  write_file_atomic(figdir + "/qq_" + d + ".dat", dat);
  plot(figdir, "qq_" + d,
       fmt::format("set title '{}: normal QQ plot of ln strength, non-silent positive input→hidden synapses'\n"
                   "set xlabel 'standard normal quantile'\nset ylabel 'standardised sample quantile of ln strength'\n"
                   "set grid\nset key top left\nset size square\nplot [-3:3][-4:4] x with lines dt 2 lc 'black' "
                   "title 'lognormal (diagonal)'{}{}",
                   dataset_title(d), plots.empty() ? "" : ", ", plots),
       700, 640);
}

struct Run {  // one trained model and what was measured on it
  std::string arm, dataset;
  std::int64_t seed = 0;
  nlohmann::json train, analysis, representation, robustness;
};

using RunsByData = std::map<std::string, std::map<std::string, std::vector<Run>>>;  // data set -> arm -> seeds

// What the sections compute from the unit files: results.json's content (res), the tables of the
// documents and the evidence each verdict weighs.
struct Report {
  Report(const PaperConfig& config, const std::string& out)
      : cfg(config),
        out_dir(out),
        units(out + "/units"),
        figdir(out + "/figures"),
        cmd("dalenet paper --config " + config.source + " --out " + out) {}
  const PaperConfig& cfg;
  std::string out_dir, units, figdir, cmd;
  RunsByData runs;
  std::map<std::string, nlohmann::json> fewshot;  // data set -> fewshot.json
  nlohmann::json res;
  Table acc{{"data set"}, {}};
  std::vector<std::pair<std::string, ClaimVerdict>> sparsity_v, lognormal_v, dale_v;
  std::map<std::string, Table> audit_tables;
  std::vector<RobustnessEvidence> robust_diffs;
  std::map<std::string, Table> robust_tables;
  std::vector<std::string> flags;
  EvidenceLine regime_a_line{"regime A", {}}, regime_c_line{"regime C", {}};
  std::vector<Difference> fewshot_controls;   // regime C: bio − the unsupervised controls (attribution)
  std::vector<Difference> fewshot_secondary;  // k > kFewShotPrimaryMaxK and regime B: reported, not deciding
  std::map<std::string, Table> fewshot_tables, fewshot_c_tables;
  std::vector<std::pair<std::string, bool>> markers;
  std::map<std::string, Table> rep_tables;
  // The arm bio_mixed (the bio rule from mixed signs) decides the Dale verdict when present.
  bool has_mixed_arm() const { return std::find(cfg.arms.begin(), cfg.arms.end(), "bio_mixed") != cfg.arms.end(); }
  // Robustness CIs over seeds with >= 3 of them, else binomial over the pooled examples.
  bool seed_ci() const { return cfg.seeds.size() >= 3; }
};

RunsByData read_runs(const PaperConfig& cfg, const std::string& units) {
  RunsByData runs;
  for (const auto& d : cfg.datasets)
    for (const auto& a : cfg.arms)
      for (auto s : cfg.seeds) {
        const std::string name = fmt::format("{}_{}-seed{}", a, d, s);
        Run r{a,
              d,
              s,
              read_json(units + "/train-" + name + "/results.json"),
              read_json(units + "/audit-" + name + "/analysis.json"),
              read_json(units + "/audit-" + name + "/representation.json"),
              read_json(units + "/attack-" + name + "/robustness.json")};
        runs[d][a].push_back(std::move(r));
      }
  return runs;
}

// Test accuracy per data set and arm, mean ± CI over seeds.
void accuracy_section(Report& report) {
  const PaperConfig& cfg = report.cfg;
  auto& runs = report.runs;
  Table& acc = report.acc;
  for (const auto& a : cfg.arms) acc.head.push_back(a);
  nlohmann::json acc_json = nlohmann::json::array();
  for (const auto& d : cfg.datasets) {
    std::vector<std::string> row = {dataset_title(d)};
    for (const auto& a : cfg.arms) {
      std::vector<double> v;
      for (const auto& r : runs[d][a]) v.push_back(r.train.at("metrics").at("test").at("accuracy").get<double>());
      const Summary s = summarise(v);
      row.push_back(pct(s));
      acc_json.push_back({{"dataset", d}, {"arm", a}, {"accuracy", v}, {"mean", s.mean}, {"ci95", s.ci}});
    }
    acc.rows.push_back(row);
  }
  report.res["accuracy"] = acc_json;
}

// Sparsity, lognormal strengths and Dale's law: the audit of each arm's first seed, and the
// verdicts' evidence from the bio models.
void structure_section(Report& report) {
  const PaperConfig& cfg = report.cfg;
  auto& runs = report.runs;
  auto &sparsity_v = report.sparsity_v, &lognormal_v = report.lognormal_v, &dale_v = report.dale_v;
  nlohmann::json audit_json = nlohmann::json::array();
  auto& audit_tables = report.audit_tables;
  const bool has_mixed_arm = report.has_mixed_arm();
  for (const auto& d : cfg.datasets) {
    const auto& bio = runs[d]["bio"].front().analysis;
    sparsity_v.emplace_back(dataset_title(d), sparsity_verdict(bio));
    lognormal_v.emplace_back(dataset_title(d), lognormal_verdict(bio));
    // The arm "bio_mixed" (experiments/bio_mixed_<data>.toml: the bio rule from signs drawn per
    // synapse) tests the strong form of the Dale claim; when the config has it, it decides.
    if (has_mixed_arm) {
      const Run& m = runs[d]["bio_mixed"].front();
      if (m.train.at("config").at("network").value("sign_init", "") != "mixed")
        throw ConfigError("paper.arms: arm 'bio_mixed' must train with network.sign_init = \"mixed\" (" + d + ")");
      dale_v.emplace_back(dataset_title(d), dale_verdict(bio, m.analysis));
    } else {
      const auto& bio_start = runs[d]["bio"].front().train.at("config").at("network").value("sign_init", "");
      dale_v.emplace_back(dataset_title(d), dale_verdict(bio, bio_start == "mixed"));
    }
    Table t{{"arm", "silent, strength = 0: active inputs", "all inputs", "latent ŵ < 1 % of max",
             "Dale compliance in / out", "sign flips", "clip events", "lognormal preferred over (of 3)",
             "absolute test p (AD)", "ln s μ", "ln s σ", "ln s skew", "hidden E / I / mixed", "fraction active",
             "population sparseness"},
            {}};
    for (const auto& a : cfg.arms) {
      const nlohmann::json row = audit_row(runs[d][a].front().analysis, d, a, runs[d][a].front().seed);
      audit_json.push_back(row);
      t.rows.push_back(audit_cells(row));
    }
    audit_tables[d] = t;
  }
  report.res["audit"] = audit_json;
}

// Figures: weights (bio, learned vs initial vs fitted lognormal; BP for contrast) and the
// structure over training.
void structure_figures(Report& report) {
  const PaperConfig& cfg = report.cfg;
  auto& runs = report.runs;
  const std::string& figdir = report.figdir;
  for (const auto& d : cfg.datasets) {
    std::string dat;
    auto hist_block = [&](const nlohmann::json& dist, const std::string& label) {
      dat += "# " + label + "\n";
      const auto& h = dist.at("log_histogram");
      const auto& counts = h.at("counts");
      double total = 0;
      for (const auto& c : counts) total += c.get<double>();
      const double lo = h.at("lo").get<double>(), hi = h.at("hi").get<double>();
      const double width = (hi - lo) / static_cast<double>(counts.size());
      for (std::size_t i = 0; i < counts.size(); ++i)
        dat += fmt::format("{} {}\n", lo + (static_cast<double>(i) + 0.5) * width,
                           total > 0 ? counts[i].get<double>() / (total * width) : 0.0);
      dat += "\n\n";
    };
    const auto& bio = runs[d]["bio"].front().analysis;
    const auto& learned = bio.at("projections").at(0).at("distribution").at("positive");
    hist_block(learned, "bio learned");
    hist_block(bio.at("initial").at(0).at("distribution").at("positive"), "bio initial");
    hist_block(runs[d]["bp"].front().analysis.at("projections").at(0).at("distribution").at("positive"), "bp learned");
    write_file_atomic(figdir + "/weights_" + d + ".dat", dat);
    // The controls' strengths beside the rule's, where the config has them.
    auto first_positive = [&](const std::string& arm) -> const nlohmann::json* {
      if (!runs[d].contains(arm) || runs[d][arm].empty()) return nullptr;
      return &runs[d][arm].front().analysis.at("projections").at(0).at("distribution").at("positive");
    };
    plot_qq(figdir, d,
            {{"bio, learned", &learned},
             {"bio, initial", &bio.at("initial").at(0).at("distribution").at("positive")},
             {"random features", first_positive("rf")},
             {"k-means prototypes", first_positive("kmeans")},
             {"BP, learned", first_positive("bp")}});
    const auto& fit = learned.at("fits").at("lognormal");
    plot(figdir, "weights_" + d,
         fmt::format(
             "set title '{}: input→hidden strengths (as the forward pass uses them), non-zero, density of ln s'\n"
             "set logscale x\nset format x '10^{{%L}}'\nset xlabel 'strength s (log axis)'\nset ylabel 'density of "
             "ln s'\n"
             "set grid\nset key top left\nmu={}\nsg={}\n"
             "f(x)=exp(-(log(x)-mu)**2/(2*sg**2))/(sg*sqrt(2*pi))\n"
             "plot [1e-5:50] 'weights_{}.dat' index 0 using (exp($1)):2 with steps lw 2 title 'bio, learned', "
             "'' index 1 using (exp($1)):2 with steps lw 2 title 'bio, initial (uniform [0.01, 0.1])', "
             "f(x) with lines dt 2 lw 2 title sprintf('lognormal fit (μ=%.2f, σ=%.2f)', mu, sg), "
             "'' index 2 using (exp($1)):2 with steps lw 1 title 'BP, learned (positive)'",
             dataset_title(d), fit.at("mu").get<double>(), fit.at("sigma").get<double>(), d));
    // Structure over training: silent fraction of input→hidden, Dale compliance (min over projections).
    std::string sdat;
    for (const auto& a : cfg.arms) {
      const auto& m = runs[d][a].front().train.at("metrics");
      sdat += "# " + a + "\n";
      auto line = [&](int epoch, const nlohmann::json& st) {
        double comp = 1.0;
        for (const auto& p : st) comp = std::min(comp, p.at("dale_compliance").get<double>());
        sdat += fmt::format("{} {} {}\n", epoch, st.at(0).at("silent_fraction").get<double>(), comp);
      };
      if (m.contains("initial_structure")) line(0, m["initial_structure"]);
      for (const auto& e : m.at("epochs"))
        if (e.contains("structure")) line(e.at("epoch").get<int>(), e["structure"]);
      sdat += "\n\n";
    }
    write_file_atomic(figdir + "/training_" + d + ".dat", sdat);
    std::string plots1, plots2;
    for (std::size_t i = 0; i < cfg.arms.size(); ++i) {
      plots1 += fmt::format("{}'training_{}.dat' index {} using 1:2 with linespoints lw 2 title '{}'", i ? ", " : "", d,
                            i, gp_label(cfg.arms[i]));
      plots2 += fmt::format("{}'training_{}.dat' index {} using 1:3 with linespoints lw 2 title '{}'", i ? ", " : "", d,
                            i, gp_label(cfg.arms[i]));
    }
    plot(figdir, "training_" + d,
         fmt::format("set multiplot layout 1,2 title '{}: structure over training (epoch 0 = initial weights)'\n"
                     "set grid\nset xlabel 'epoch'\nset key bottom right\nset yrange [0:1.02]\n"
                     "set ylabel 'silent fraction, input→hidden'\nplot {}\n"
                     "set ylabel 'Dale compliance (min over projections)'\nplot {}\nunset multiplot",
                     dataset_title(d), plots1, plots2),
         1000, 440);
  }
}

// bio − reference robust accuracy at one eps: paired over seeds (t CI) with >= 3 seeds, else
// the difference of the pooled proportions over the n test images of every seed.
Difference robust_difference(const std::string& label, const std::vector<double>& bio,
                             const std::vector<double>& reference, bool seed_ci, double n) {
  if (seed_ci) {
    std::vector<double> paired;
    for (std::size_t s = 0; s < bio.size(); ++s) paired.push_back(bio[s] - reference[s]);
    const Summary s = summarise(paired);
    return {label, s.mean, s.ci, static_cast<double>(s.n) - 1.0};
  }
  const double pooled = n * static_cast<double>(bio.size());
  return proportion_difference(label, summarise(bio).mean * pooled, pooled, summarise(reference).mean * pooled, pooled);
}

// Robust accuracy per ε and arm (the worst case over the ladder), bio − bp and bio − each
// attribution control per ε (the verdict's evidence), the raised gradient-masking flags.
void robustness_section(Report& report) {
  const PaperConfig& cfg = report.cfg;
  auto& runs = report.runs;
  const std::string& figdir = report.figdir;
  auto& robust_diffs = report.robust_diffs;
  nlohmann::json robust_json = nlohmann::json::object();
  auto& robust_tables = report.robust_tables;
  auto& flags = report.flags;
  const bool seed_ci = report.seed_ci();
  for (const auto& d : cfg.datasets) {
    const auto& first = runs[d]["bio"].front().robustness.at("models").at(0).at("robust");
    std::vector<double> eps;
    for (const auto& e : first) eps.push_back(e.at("eps").get<double>());
    const double n = runs[d]["bio"].front().robustness.at("n").get<double>();
    Table t{{"ε"}, {}};
    for (const auto& a : cfg.arms) t.head.push_back(a);
    t.head.emplace_back("bio − bp (pp)");
    std::string dat;
    nlohmann::json arms_json = nlohmann::json::object();
    std::map<std::string, std::vector<std::vector<double>>> robust_acc;  // arm -> eps index -> per seed
    for (const auto& a : cfg.arms) {
      robust_acc[a].resize(eps.size());
      for (const auto& r : runs[d][a]) {
        const auto& m = r.robustness.at("models").at(0);
        const auto& rb = m.at("robust");
        if (rb.size() != eps.size()) throw InputError("report: " + a + " " + d + ": a different eps grid than bio");
        for (std::size_t i = 0; i < eps.size(); ++i)
          robust_acc[a][i].push_back(rb[i].at("robust_accuracy").get<double>());
        for (const auto& f : m.at("flags"))
          if (f.value("raised", false))
            flags.push_back(fmt::format("{} {} seed {}: {} — {}", dataset_title(d), a, r.seed,
                                        f.value("name", std::string()), f.value("detail", std::string())));
      }
    }
    // The CI of a curve: over seeds when there are >= 3, else the binomial interval over the
    // pooled examples (documented in EVALUATION.md).
    auto interval = [&](const std::vector<double>& per_seed) {
      const Summary s = summarise(per_seed);
      if (seed_ci) return std::pair{s.mean, s.ci};
      const double pooled = n * static_cast<double>(per_seed.size());
      return std::pair{s.mean, 1.959963984540054 * std::sqrt(s.mean * (1 - s.mean) / pooled)};
    };
    for (const auto& a : cfg.arms) {
      dat += "# " + a + ": eps mean lo hi\n";
      nlohmann::json curve = nlohmann::json::array();
      for (std::size_t i = 0; i < eps.size(); ++i) {
        const auto [m, ci] = interval(robust_acc[a][i]);
        dat += fmt::format("{} {} {} {}\n", eps[i], 100 * m, 100 * std::max(0.0, m - ci), 100 * std::min(1.0, m + ci));
        curve.push_back({{"eps", eps[i]}, {"mean", m}, {"ci95", ci}, {"per_seed", robust_acc[a][i]}});
      }
      arms_json[a] = curve;
      dat += "\n\n";
    }
    // bio − bp, then bio − each attribution control that was run (docs/EVALUATION.md, "Verdicts")
    std::vector<std::string> references = {"bp"};
    for (const auto& c : kRobustnessControls)
      if (std::find(cfg.arms.begin(), cfg.arms.end(), c.arm) != cfg.arms.end()) {
        references.emplace_back(c.arm);
        t.head.push_back(fmt::format("bio − {} (pp)", c.arm));
      }
    RobustnessEvidence evidence{dataset_title(d), {}, {}};
    for (std::size_t r = 1; r < references.size(); ++r) evidence.versus_controls.push_back({references[r], {}});
    for (std::size_t i = 0; i < eps.size(); ++i) {
      std::vector<std::string> row = {fmt::format("{:g}", eps[i])};
      for (const auto& a : cfg.arms) {
        const auto [m, ci] = interval(robust_acc[a][i]);
        row.push_back(fmt::format("{:.1f} ± {:.1f}", 100 * m, 100 * ci));
      }
      for (std::size_t r = 0; r < references.size(); ++r) {
        const Difference diff = robust_difference(fmt::format("ε={:g}", eps[i]), robust_acc["bio"][i],
                                                  robust_acc[references[r]][i], seed_ci, n);
        row.push_back(fmt::format("{:+.1f} ± {:.1f}", 100 * diff.mean, 100 * diff.ci95));
        if (eps[i] <= 0) continue;
        (r == 0 ? evidence.versus_bp : evidence.versus_controls[r - 1].second).push_back(diff);
      }
      t.rows.push_back(row);
    }
    robust_tables[d] = t;
    robust_diffs.push_back(std::move(evidence));
    robust_json[d] = {
        {"n", n}, {"curves", arms_json}, {"ci", seed_ci ? "t over seeds" : "binomial over pooled examples"}};
    write_file_atomic(figdir + "/robustness_" + d + ".dat", dat);
    const std::string plots = band_plots("robustness_" + d + ".dat", cfg.arms);
    plot(figdir, "robustness_" + d,
         fmt::format("set title '{}: robust accuracy (worst case over the attack ladder), {} test images × {} seed(s), "
                     "95 % CI band'\nset xlabel 'ε (L∞)'\nset ylabel 'robust accuracy (%)'\nset yrange [0:100]\n"
                     "set grid\nset key top right\nplot {}",
                     dataset_title(d), static_cast<int>(n), cfg.seeds.size(), plots));
  }
  report.res["robustness"] = robust_json;
  report.res["gradient_masking_flags"] = flags;
}

// A few-shot table cell: mean (± CI) in %, signed for differences; "–" where there is none.
std::string fewshot_cell(const nlohmann::json& a, bool sign) {
  if (a.is_null() || !a.at("mean").is_number()) return std::string("–");
  const double m = 100 * a.at("mean").get<double>();
  const std::string ci = a.at("ci95").is_number() ? fmt::format(" ± {:.1f}", 100 * a.at("ci95").get<double>()) : "";
  return (sign ? fmt::format("{:+.1f}", m) : fmt::format("{:.1f}", m)) + ci;
}

// Regime A of one data set: accuracy per arm and k, the bio arm's diagnostics and bio − bp paired
// by draw (the verdict's line A; k > kFewShotPrimaryMaxK is secondary). Returns the figure's data.
std::string fewshot_regime_a(Report& report, const std::string& d, const nlohmann::json& F) {
  const PaperConfig& cfg = report.cfg;
  auto& regime_a_line = report.regime_a_line;
  auto& fewshot_secondary = report.fewshot_secondary;
  Table t{{"arm"}, {}};
  for (int k : cfg.shots) t.head.push_back(fmt::format("k={}", k));
  std::map<std::pair<std::string, int>, nlohmann::json> S, P;
  for (const auto& r : F.at("regime_a").at("summary")) S[{r.at("arm"), r.at("k").get<int>()}] = r.at("accuracy");
  for (const auto& r : F.at("regime_a").at("paired_vs_bp")) P[{r.at("arm"), r.at("k").get<int>()}] = r.at("difference");
  std::string dat;
  for (const auto& a : cfg.fewshot_arms) {
    std::vector<std::string> row = {a};
    dat += "# " + a + ": k mean lo hi\n";
    for (int k : cfg.shots) {
      const auto& s = S[{a, k}];
      row.push_back(fewshot_cell(s, false));
      if (!s.is_null()) {
        const double m = s.at("mean").get<double>(), ci = s.at("ci95").is_number() ? s.at("ci95").get<double>() : 0.0;
        dat += fmt::format("{} {} {} {}\n", k, 100 * m, 100 * (m - ci), 100 * (m + ci));
      }
    }
    dat += "\n\n";
    t.rows.push_back(row);
  }
  std::map<int, nlohmann::json> probe, fit;  // diagnostics of the bio arm
  for (const auto& r : F.at("regime_a").at("summary"))
    if (r.at("arm") == "bio") {
      probe[r.at("k").get<int>()] = r.value("prototype_accuracy", nlohmann::json());
      fit[r.at("k").get<int>()] = r.value("train_accuracy", nlohmann::json());
    }
  std::vector<std::string> prow = {"bio hidden layer, prototype probe"}, frow = {"bio on its own k-shot set"};
  for (int k : cfg.shots) {
    prow.push_back(fewshot_cell(probe[k], false));
    frow.push_back(fewshot_cell(fit[k], false));
  }
  t.rows.push_back(prow);
  t.rows.push_back(frow);
  std::vector<std::string> drow = {"bio − bp (paired by draw)"};
  for (int k : cfg.shots) {
    const auto& p = P[{"bio", k}];
    drow.push_back(fewshot_cell(p, true));
    if (!p.is_null() && p.at("ci95").is_number())
      (k <= kFewShotPrimaryMaxK ? regime_a_line.primary : fewshot_secondary)
          .push_back({fmt::format("{} k={}", dataset_title(d), k), p.at("mean").get<double>(),
                      p.at("ci95").get<double>(), p.value("n", 0.0) - 1.0});
  }
  t.rows.push_back(drow);
  report.fewshot_tables[d] = t;
  return dat;
}

// Regime B (novel classes) of one data set: reported, not deciding.
void fewshot_regime_b(Report& report, const std::string& d, const nlohmann::json& F) {
  const PaperConfig& cfg = report.cfg;
  auto& fewshot_secondary = report.fewshot_secondary;
  // Paired by training seed: bio prototype probe - bp prototype probe.
  if (F.contains("regime_b") && F["regime_b"].contains("seeds")) {
    std::map<std::pair<std::string, std::uint64_t>, nlohmann::json> seeds;
    for (const auto& r : F["regime_b"]["seeds"]) seeds[{r.at("arm"), r.at("seed").get<std::uint64_t>()}] = r;
    for (int k : cfg.novel_shots) {
      std::vector<double> dd;
      for (auto s : cfg.novel_seeds) {
        const std::string key = fmt::format("k{}", k);
        if (seeds.contains({"bio", s}) && seeds.contains({"bp", s}) && seeds[{"bio", s}].contains(key))
          dd.push_back(seeds[{"bio", s}][key].at("accuracy").at("mean").get<double>() -
                       seeds[{"bp", s}][key].at("accuracy").at("mean").get<double>());
      }
      if (dd.size() >= 2) {
        const Summary s = summarise(dd);
        fewshot_secondary.push_back(
            {fmt::format("{} novel 5-way {}-shot", dataset_title(d), k), s.mean, s.ci, static_cast<double>(s.n) - 1.0});
      }
    }
  }
}

// Regime C of one data set: the table, bio (own readout) − bp and ae_bp (the verdict's line C)
// and bio − the unsupervised controls (attribution).
void fewshot_regime_c(Report& report, const std::string& d, const nlohmann::json& F) {
  const PaperConfig& cfg = report.cfg;
  auto& regime_c_line = report.regime_c_line;
  auto& fewshot_secondary = report.fewshot_secondary;
  auto& fewshot_controls = report.fewshot_controls;
  auto& fewshot_c_tables = report.fewshot_c_tables;
  if (F.contains("regime_c") && F["regime_c"].is_object()) {
    Table tc{{"arm", "readout"}, {}};
    for (int k : cfg.shots) tc.head.push_back(fmt::format("k={}", k));
    std::vector<std::pair<std::string, std::string>> order;
    std::map<std::tuple<std::string, std::string, int>, nlohmann::json> accuracy, bio_minus_cell;
    for (const auto& r : F["regime_c"].at("summary")) {
      const std::pair<std::string, std::string> key{r.at("arm"), r.at("readout")};
      if (std::find(order.begin(), order.end(), key) == order.end()) order.push_back(key);
      accuracy[{key.first, key.second, r.at("k").get<int>()}] = r.at("accuracy");
    }
    for (const auto& r : F["regime_c"].at("paired_vs_bio")) {
      const std::string arm = r.at("arm"), readout = r.at("readout");
      const int k = r.at("k").get<int>();
      bio_minus_cell[{arm, readout, k}] = r.at("bio_minus");
      const auto& m = r.at("bio_minus");
      if (readout != "own" || !m.at("ci95").is_number()) continue;
      const Difference diff{fmt::format("{} C k={} vs {}", dataset_title(d), k, arm), m.at("mean").get<double>(),
                            m.at("ci95").get<double>(), m.value("n", 0.0) - 1.0};
      if (arm == "bp" || arm == "ae_bp") {
        (k <= kFewShotPrimaryMaxK ? regime_c_line.primary : fewshot_secondary).push_back(diff);
      } else if ((arm == "rf" || arm == "kmeans" || arm == "pca") && k <= kFewShotPrimaryMaxK) {
        fewshot_controls.push_back(diff);
      }
    }
    for (const auto& [arm, readout] : order) {
      std::vector<std::string> row = {arm, readout};
      for (int k : cfg.shots) row.push_back(fewshot_cell(accuracy[{arm, readout, k}], false));
      tc.rows.push_back(row);
    }
    for (const char* arm : {"bp", "ae_bp"}) {
      std::vector<std::string> row = {fmt::format("bio own − {} (paired by draw)", arm), ""};
      for (int k : cfg.shots) row.push_back(fewshot_cell(bio_minus_cell[{arm, "own", k}], true));
      tc.rows.push_back(row);
    }
    fewshot_c_tables[d] = tc;
  }
}

// results.json's copy of a data set's few-shot document: the measured numbers, no timings.
nlohmann::json fewshot_numbers(const nlohmann::json& F) {
  nlohmann::json regime_a = F.at("regime_a");
  for (auto& draw : regime_a["draws"]) {  // measured numbers only, no timings
    draw.erase("seconds");
    draw.erase("train_seconds");
  }
  if (regime_a.contains("budget_selection"))
    for (auto& row : regime_a["budget_selection"]) row.erase("seconds");
  nlohmann::json regime_b = F.value("regime_b", nlohmann::json());
  if (regime_b.is_object() && regime_b.contains("seeds"))
    for (auto& seed : regime_b["seeds"]) seed.erase("seconds");
  return {{"regime_a", regime_a}, {"regime_b", regime_b}, {"regime_c", F.value("regime_c", nlohmann::json())}};
}

// Few-shot generalisation: regimes A, B and C per data set, and the figure of regime A.
void fewshot_section(Report& report) {
  const PaperConfig& cfg = report.cfg;
  const std::string& figdir = report.figdir;
  nlohmann::json fewshot_json = nlohmann::json::object();
  for (const auto& [d, F] : report.fewshot) {
    const std::string dat = fewshot_regime_a(report, d, F);
    fewshot_regime_b(report, d, F);
    fewshot_regime_c(report, d, F);
    fewshot_json[d] = fewshot_numbers(F);
    write_file_atomic(figdir + "/fewshot_" + d + ".dat", dat);
    const std::string plots = band_plots("fewshot_" + d + ".dat", cfg.fewshot_arms);
    plot(figdir, "fewshot_" + d,
         fmt::format("set title '{}: few-shot test accuracy, k examples per class, {} draws, 95 % CI band'\n"
                     "set logscale x\nset xlabel 'k (examples per class)'\nset ylabel 'test accuracy (%)'\n"
                     "set yrange [0:100]\nset grid\nset key bottom right\nplot {}",
                     dataset_title(d), cfg.draws, plots));
  }
  report.res["fewshot"] = fewshot_json;
}

// Representation measures per arm (mean ± CI over seeds), the activity figure, the receptive
// fields, and the markers the representation verdict weighs.
void representation_section(Report& report) {
  const PaperConfig& cfg = report.cfg;
  auto& runs = report.runs;
  const std::string& figdir = report.figdir;
  const std::string& units = report.units;
  auto& markers = report.markers;
  auto& rep_tables = report.rep_tables;
  nlohmann::json rep_json = nlohmann::json::array();
  for (const auto& d : cfg.datasets) {
    std::vector<nlohmann::json> bio, bp;
    for (const auto& r : runs[d]["bio"]) bio.push_back(r.representation);
    for (const auto& r : runs[d]["bp"]) bp.push_back(r.representation);
    for (auto& m : representation_markers(bio, bp, dataset_title(d) + ": ")) markers.push_back(m);
    Table t{{"measure"}, {}};
    for (const auto& a : cfg.arms) t.head.push_back(a);
    const std::vector<std::pair<std::string, std::vector<std::string>>> measures = {
        {"fraction active", {"activity", "fraction_active"}},
        {"population sparseness", {"activity", "population_sparseness"}},
        {"lifetime sparseness", {"activity", "lifetime_sparseness"}},
        {"class selectivity (mean)", {"class_selectivity", "mean"}},
        {"fraction class-selective > 0.5", {"class_selectivity", "fraction_above_0_5"}},
        {"participation ratio", {"participation_ratio"}},
        {"eigenspectrum α", {"eigenspectrum_alpha"}},
        {"receptive-field Moran's I", {"receptive_field_morans_i"}}};
    std::string bars = "measure";
    for (const auto& a : cfg.arms) bars += " \"" + gp_label(a) + "\"";
    bars += "\n";
    for (const auto& [label, path] : measures) {
      std::vector<std::string> row = {label};
      const bool bar =
          label == "fraction active" || label == "population sparseness" || label == "fraction class-selective > 0.5";
      if (bar) bars += "\"" + label + "\"";
      for (const auto& a : cfg.arms) {
        std::vector<double> v;
        for (const auto& r : runs[d][a]) {
          const nlohmann::json* j = &r.representation;
          for (const auto& k : path) j = &j->at(k);
          if (j->is_number()) v.push_back(j->get<double>());
        }
        const Summary s = summarise(v);
        row.push_back(std::isfinite(s.ci) ? fmt::format("{:.3f} ± {:.3f}", s.mean, s.ci) : num(s.mean));
        rep_json.push_back({{"dataset", d}, {"arm", a}, {"measure", label}, {"mean", s.mean}, {"ci95", s.ci}});
        if (bar) bars += " " + (std::isfinite(s.mean) ? fmt::format("{}", s.mean) : std::string("0"));
      }
      if (bar) bars += "\n";
      t.rows.push_back(row);
    }
    // E/I: the realised sign of each hidden neuron's outgoing synapses (hidden→output), as fractions.
    bars += "\"hidden neurons realised E\"";
    std::string dale_row = "\"Dale compliance (min)\"";
    for (const auto& a : cfg.arms) {
      const auto& an = runs[d][a].front().analysis;
      const auto& re = an.at("projections").back().at("dale").at("realised");
      const double e = re.value("excitatory", 0.0), i = re.value("inhibitory", 0.0), m = re.value("mixed", 0.0);
      bars += fmt::format(" {}", e + i + m > 0 ? e / (e + i + m) : 0.0);
      const double compliance = min_dale_compliance(an);
      dale_row += fmt::format(" {}", compliance);
    }
    bars += "\n" + dale_row + "\n";
    rep_tables[d] = t;
    write_file_atomic(figdir + "/activity_" + d + ".dat", bars);
    plot(figdir, "activity_" + d,
         fmt::format(
             "set title '{}: activity sparseness and E/I, hidden layer (test set)'\n"
             "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
             "set yrange [0:1.05]\nset grid ytics\nset key top right outside\nset xtics rotate by -15\n"
             "plot for [i=2:{}] 'activity_{}.dat' using i:xtic(1) title columnhead(i)",
             dataset_title(d), cfg.arms.size() + 1, d),
         1000, 480);
    for (const auto& a : cfg.arms)
      fs::copy_file(units + fmt::format("/audit-{}_{}-seed{}/receptive_fields.png", a, d, cfg.seeds.front()),
                    figdir + fmt::format("/receptive_fields_{}_{}.png", a, d), fs::copy_options::overwrite_existing);
  }
  report.res["representations"] = rep_json;
}

// A claim's verdict and the anchor of its evidence in index.html.
struct ClaimRow {
  ClaimVerdict v;
  std::string anchor;
};

// The six claims, in the paper's order, each decided by its rule in verdict.cpp.
std::vector<ClaimRow> decide_claims(Report& report) {
  std::vector<ClaimRow> claims = {
      {combine_verdicts(report.sparsity_v), "structure"},
      {combine_verdicts(report.lognormal_v), "structure"},
      {combine_verdicts(report.dale_v), "structure"},
      {robustness_verdict(report.robust_diffs), "robustness"},
      {fewshot_verdict({report.regime_a_line, report.regime_c_line}, report.fewshot_controls, report.fewshot_secondary),
       "fewshot"},
      {representation_verdict(report.markers), "representations"}};
  nlohmann::json claims_json = nlohmann::json::array();
  for (const auto& c : claims) {
    auto j = c.v.to_json();
    j["evidence"] = "index.html#" + c.anchor;
    claims_json.push_back(j);
  }
  report.res["claims"] = claims_json;
  return claims;
}

// The documents' opening: what produced them, the verdict table and how the verdicts are decided.
void write_verdicts(Doc& doc, const Report& report, const std::vector<ClaimRow>& claims) {
  const PaperConfig& cfg = report.cfg;
  const std::string &cmd = report.cmd, &out_dir = report.out_dir;
  const bool has_mixed_arm = report.has_mixed_arm();
  doc.md = "# dalenet paper report: " + cfg.preset +
           "\n\nReproduction of Inoue, Röhrbein & Knoblauch (2026, "
           "arXiv 2603.03234) with the rule reconstructed in docs/RULE.md. Produced by `" +
           cmd + "`; every number below is computed from the unit files in `" + out_dir +
           "/units/` (the report alone: `" + cmd + " --report-only`).\n";
  doc.html = "<h1>dalenet paper report: " + html_escape(cfg.preset) +
             "</h1>\n<p>Reproduction of Inoue, Röhrbein &amp; "
             "Knoblauch (2026, arXiv 2603.03234) with the rule reconstructed in docs/RULE.md. Produced by <code>" +
             html_escape(cmd) + "</code>; every number is computed from the unit files in <code>" +
             html_escape(out_dir) + "/units/</code>.</p>\n";
  doc.heading("Verdicts", "verdicts");
  Table vt{{"claim of the paper", "verdict", "deciding numbers", "evidence"}, {}, false};
  std::string vhtml =
      "<table id=\"verdict-table\"><thead><tr><th>claim of the paper</th><th>verdict</th><th>deciding "
      "numbers</th><th>evidence</th></tr></thead><tbody>\n";
  for (const auto& c : claims) {
    const std::string v = to_string(c.v.verdict);
    vt.rows.push_back({c.v.claim, "**" + v + "**", c.v.deciding, "[evidence](index.html#" + c.anchor + ")"});
    std::string cls = v;
    std::replace(cls.begin(), cls.end(), ' ', '-');
    vhtml += "<tr><td>" + html_escape(c.v.claim) + "</td><td class=\"v " + cls + "\">" + html_escape(v) + "</td><td>" +
             html_escape(c.v.deciding) + "</td><td><a href=\"#" + c.anchor + "\">evidence</a></td></tr>\n";
  }
  doc.md += vt.markdown() + "\n";
  doc.html += vhtml + "</tbody></table>\n";
  doc.para(std::string("Verdict rules (code: src/report/verdict.cpp, tests: tests/test_verdict.cpp, definitions: "
                       "docs/EVALUATION.md \"Verdicts\"). ") +
           (has_mixed_arm ? "Dale's law is decided by the arm bio_mixed, the bio rule from signs drawn at random per "
                            "synapse (the claim's strong form); the bio arm starts from per-neuron signs, so it can "
                            "show sign persistence, not emergence."
                          : "Dale's law can at most be \"partly\" here: the bio rule starts from per-neuron signs, so "
                            "sign persistence is shown, not emergence from mixed signs (add the arm bio_mixed to test "
                            "the strong form)."));
}

// The evidence, section by section, in the order of the claims.
void write_sections(Doc& doc, Report& report) {
  const PaperConfig& cfg = report.cfg;
  const bool seed_ci = report.seed_ci();
  auto &audit_tables = report.audit_tables, &robust_tables = report.robust_tables;
  auto &fewshot_tables = report.fewshot_tables, &fewshot_c_tables = report.fewshot_c_tables;
  auto& rep_tables = report.rep_tables;
  const auto& flags = report.flags;
  doc.heading("Test accuracy", "accuracy");
  doc.para(
      fmt::format("Full test set, % (mean ± 95 % CI over {} seed(s)). Configs: {}/<arm>_<data>.toml with the "
                  "overrides of {}.",
                  cfg.seeds.size(), cfg.config_dir, cfg.source));
  doc.table(report.acc);

  doc.heading("Sparsity, weight distributions and Dale's law", "structure");
  doc.para(
      fmt::format("`dalenet analyze` of each model (seed {}), on the synaptic strength the forward pass uses (w "
                  "for linear projections, the efficacy ln(max(ŵ/Σŵ, ε)/ε) for the bio rule's input→hidden "
                  "projection; docs/EVALUATION.md). Silent: strength exactly 0. Active inputs: on (pixel ≥ 0.5) in "
                  "≥ 1 % of the training images; the sparsity verdict uses the silent fraction over their synapses. "
                  "The latent column counts the stored weights ŵ below 1 % of each neuron's largest (what the audit "
                  "measured before; not what the network uses). Lognormal: Vuong tests of lognormal against normal, "
                  "gamma and exponential on the non-silent positive input→hidden strengths, p < 0.01, and the "
                  "absolute Anderson–Darling test (parametric bootstrap, 2 000 strengths; rejected at p < 0.05). "
                  "Dale compliance per projection; sensory inputs are excitatory by construction. The controls: rf, "
                  "the bio architecture and readout on a hidden layer that never learns (experiments/rf_<data>.toml); "
                  "kmeans, the same with k-means prototypes in place of the rule (experiments/kmeans_<data>.toml).",
                  cfg.seeds.front()));
  for (const auto& d : cfg.datasets) {
    doc.sub(dataset_title(d));
    doc.table(audit_tables[d]);
    doc.figure("weights_" + d,
               dataset_title(d) + ": input→hidden strength distribution (bio learned, initial, fit; BP)");
    doc.figure("qq_" + d, dataset_title(d) + ": normal QQ plot of ln strength (on the diagonal if lognormal)");
    doc.figure("training_" + d, dataset_title(d) + ": silent fraction and Dale compliance over training");
  }

  doc.heading("Adversarial robustness", "robustness");
  doc.para(
      fmt::format("`dalenet attack` ladder (FGSM, PGD cross-entropy and margin with {} steps × {} restarts, "
                  "Square with {} queries, transfer from BP, noise) on the same {} stratified test images per "
                  "model; robust accuracy is the per-example worst case. CIs: {}.",
                  cfg.attack_steps, cfg.attack_restarts, cfg.square_queries, cfg.attack_n,
                  seed_ci ? "Student t over seeds" : "binomial over the pooled examples (fewer than 3 seeds)"));
  for (const auto& d : cfg.datasets) {
    doc.sub(dataset_title(d));
    doc.table(robust_tables[d]);
    doc.figure("robustness_" + d, dataset_title(d) + ": robust accuracy vs ε");
  }
  doc.para("Gradient-masking flags raised: " +
           (flags.empty() ? std::string("none.") : fmt::format("{}.", fmt::join(flags, "; "))));

  if (cfg.fewshot) {
    doc.heading("Few-shot generalisation", "fewshot");
    doc.para(
        fmt::format("`dalenet fewshot` regime A: k training examples per class ({} stratified draws per k, the "
                    "same draws for every arm), full-data hyperparameters; each arm's training budget per k "
                    "(b × {} updates, the bio rule's plastic epochs × b; b in [{}]) {}, evaluated on the {} test "
                    "set. Test accuracy %, mean ± 95 % CI over draws.",
                    cfg.draws, cfg.min_updates, fmt::join(cfg.budgets, ", "),
                    cfg.budgets.size() > 1 ? fmt::format("chosen on {} validation draws from the training images "
                                                         "(docs/EVALUATION.md)",
                                                         cfg.selection_draws)
                                           : std::string("fixed"),
                    cfg.fewshot_test_limit ? "first part of the" : "full"));
    for (const auto& d : cfg.datasets) {
      doc.sub(dataset_title(d));
      doc.table(fewshot_tables[d]);
      doc.figure("fewshot_" + d, dataset_title(d) + ": few-shot accuracy vs k");
    }
    if (!fewshot_c_tables.empty()) {
      doc.para(fmt::format(
          "Regime C (docs/EVALUATION.md): each feature arm learned its hidden layer from all training images with "
          "their labels scrambled; a readout then learned from the k labels of regime A's draws — `own`: the bio "
          "rule's output rule O1 (as many updates as bp makes at that k), `prototype`: nearest class mean. `pca`: "
          "principal components split "
          "ON/OFF; `bp`: regime A's runs; `ae_bp`: BP from an autoencoder pre-trained on the unlabelled images "
          "({} epochs). The verdict's line C compares bio (own readout) with bp and ae_bp at k ≤ {}.",
          cfg.ae_epochs, kFewShotPrimaryMaxK));
      for (const auto& [d, tc] : fewshot_c_tables) {
        doc.sub(dataset_title(d) + ", regime C");
        doc.table(tc);
      }
    }
  }

  doc.heading("Representations", "representations");
  doc.para(
      fmt::format("`dalenet represent` of the first hidden layer on {} test images; mean ± 95 % CI over seeds. "
                  "Receptive fields: the input weights of 100 hidden neurons sorted by preferred class (seed {}).",
                  cfg.represent_limit, cfg.seeds.front()));
  for (const auto& d : cfg.datasets) {
    doc.sub(dataset_title(d));
    doc.table(rep_tables[d]);
    doc.figure("activity_" + d, dataset_title(d) + ": activity sparseness, selectivity and realised E/I by arm");
    for (const auto& a : cfg.arms)
      doc.figure(fmt::format("receptive_fields_{}_{}", a, d), dataset_title(d) + ": receptive fields, " + a, false);
  }
}

// The environment table (build, host, processes, unit times, data hashes) and the list of figures.
void write_environment(Doc& doc, Report& report, const nlohmann::json& run_info) {
  const PaperConfig& cfg = report.cfg;
  doc.heading("Environment", "environment");
  Table env{{"item", "value"}, {}};
  env.rows.push_back({"dalenet", run_info.at("build").value("version", std::string("?"))});
  env.rows.push_back({"compiler", run_info.at("build").value("compiler", std::string("?"))});
  env.rows.push_back({"host", run_info.value("host", std::string("?"))});
  env.rows.push_back({"processes", fmt::format("{} ({})", run_info.value("processes", 1),
                                               run_info.value("distribution", std::string("?")))});
  env.rows.push_back({"threads per unit", std::to_string(run_info.value("threads_per_unit", 0))});
  env.rows.push_back({"seeds", fmt::format("{}", fmt::join(cfg.seeds, ", "))});
  for (const auto& [k, v] : run_info.at("unit_seconds_by_stage").items())
    env.rows.push_back({"unit time, " + k, fmt::format("{:.0f} s", v.get<double>())});
  for (const auto& [k, v] : run_info.at("unit_seconds_by_kind").items())
    env.rows.push_back({"unit time, " + k + " units", fmt::format("{:.0f} s", v.get<double>())});
  env.rows.push_back({"unit time: total", fmt::format("{:.0f} s", run_info.value("unit_seconds_total", 0.0))});
  env.rows.push_back(
      {"peak memory (largest process running units)", fmt::format("{:.0f} MiB", run_info.value("peak_rss_mib", 0.0))});
  env.rows.push_back(
      {"wall time of the last invocation", fmt::format("{:.0f} s", run_info.value("this_invocation_wall_s", 0.0))});
  for (const auto& [k, v] : run_info.at("data_sha256").items())
    env.rows.push_back({"sha256 " + k, v.get<std::string>()});
  doc.table(env);
  nlohmann::json& res = report.res;
  res["environment"] = run_info;
  res["figures"] = nlohmann::json::array();
  for (const auto& e : fs::directory_iterator(report.figdir))
    if (e.path().extension() == ".png" || e.path().extension() == ".svg")
      res["figures"].push_back("figures/" + e.path().filename().string());
  std::sort(res["figures"].begin(), res["figures"].end());
}

}  // namespace

nlohmann::json write_paper_report(const PaperConfig& cfg, const std::string& out_dir, const nlohmann::json& run_info) {
  Report report(cfg, out_dir);
  fs::create_directories(report.figdir);
  report.runs = read_runs(cfg, report.units);
  if (cfg.fewshot)
    for (const auto& d : cfg.datasets) report.fewshot[d] = read_json(report.units + "/fewshot-" + d + "/fewshot.json");
  nlohmann::json& res = report.res;
  res["format"] = "dalenet-paper";
  res["format_version"] = 1;
  res["preset"] = cfg.preset;
  res["config"] = cfg.source;
  accuracy_section(report);
  structure_section(report);
  structure_figures(report);
  robustness_section(report);
  fewshot_section(report);
  representation_section(report);
  const std::vector<ClaimRow> claims = decide_claims(report);
  Doc doc;
  write_verdicts(doc, report, claims);
  write_sections(doc, report);
  write_environment(doc, report, run_info);

  const std::string page =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>dalenet paper report: " +
      html_escape(cfg.preset) +
      "</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
      "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}"
      "th{background:#f3f3f3}figure{margin:1em 0}img{max-width:100%}code{background:#f6f6f6}"
      ".v{font-weight:bold}.reproduced{background:#d8f5d0}.partly{background:#fff2c2}"
      ".not-reproduced{background:#f9d0d0}.not-measured{background:#e8e8e8}</style>\n"
      // Marks the page once loaded: the browser test reads these attributes.
      "<script>var dalenetErrors=0;window.addEventListener('error',function(){dalenetErrors++;},true);"
      "var consoleError=console.error;console.error=function(){dalenetErrors++;consoleError.apply(console,arguments);};"
      "window.addEventListener('load',function(){var im=document.images,b=0;for(var i=0;i<im.length;i++)"
      "if(!(im[i].complete&&im[i].naturalWidth>0))b++;document.body.setAttribute('data-images',im.length);"
      "document.body.setAttribute('data-broken-images',b);"
      "document.body.setAttribute('data-console-errors',dalenetErrors);});</script>\n</head><body>\n" +
      doc.html + "</body></html>\n";
  write_file_atomic(out_dir + "/summary.md", doc.md);
  write_file_atomic(out_dir + "/results.json", res.dump(2) + "\n");
  write_file_atomic(out_dir + "/index.html", page);
  return res;
}

}  // namespace dalenet
