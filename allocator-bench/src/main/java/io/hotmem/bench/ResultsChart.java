package io.hotmem.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.data.category.DefaultCategoryDataset;

import java.awt.Color;
import java.io.IOException;
import java.text.DecimalFormat;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Renders allocation benchmark results (JMH JSON, from {@code -rf json}) as a grouped bar chart, PNG: one group per
 * case (benchmark, size, threads), one bar per allocator, ns per operation on a log scale. Also prints the table
 * of the same numbers in Markdown.
 *
 * <pre>java -cp benchmarks.jar io.hotmem.bench.ResultsChart out.png result.json [more.json ...]</pre>
 */
public final class ResultsChart {
    /** Benchmark method to series name, in the chart's order. */
    private static final Map<String, String> SERIES = new LinkedHashMap<>();

    static {
        SERIES.put("hotmemMovable", "hotmem HOTREMOVABLE");
        SERIES.put("hotmemFixed", "hotmem non-movable");
        SERIES.put("nettyAdaptive", "Netty Adaptive");
        SERIES.put("nettyPooled", "Netty Pooled");
        SERIES.put("malloc", "malloc/free (downcall)");
        SERIES.put("arenaConfined", "Arena.ofConfined");
    }

    private ResultsChart() {
    }

    /**
     * Writes the chart.
     *
     * @param args the PNG to write, then one or more JMH JSON result files
     * @throws IOException if a file cannot be read or written
     */
    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: ResultsChart out.png result.json [more.json ...]");
            System.exit(2);
        }
        System.setProperty("java.awt.headless", "true");
        Map<String, Map<String, Double>> scores = new LinkedHashMap<>();
        Map<String, Map<String, String>> table = new TreeMap<>();
        for (String series : SERIES.values()) {
            scores.put(series, new TreeMap<>());
        }
        for (int i = 1; i < args.length; i++) {
            try (Reader r = Files.newBufferedReader(Path.of(args[i]))) {
                JsonArray results = JsonParser.parseReader(r).getAsJsonArray();
                for (JsonElement e : results) {
                    add(e.getAsJsonObject(), scores, table);
                }
            }
        }
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        scores.forEach((series, byCase) -> byCase.forEach((c, score) -> data.addValue(score, series, c)));
        JFreeChart chart = new JFreeChart("Allocate + free, ns per operation and thread (lower is better)",
                JFreeChart.DEFAULT_TITLE_FONT, plot(data), true);
        chart.setBackgroundPaint(Color.WHITE);
        ChartUtils.saveChartAsPNG(Path.of(args[0]).toFile(), chart, 1400, 700);
        System.out.println("| case | " + String.join(" | ", SERIES.values()) + " |");
        System.out.println("|---".repeat(SERIES.size() + 1) + "|");
        table.forEach((c, row) -> System.out.println("| " + c + " | " + String.join(" | ",
                SERIES.values().stream().map(s -> row.getOrDefault(s, "")).toList()) + " |"));
    }

    private static void add(JsonObject result, Map<String, Map<String, Double>> scores,
                            Map<String, Map<String, String>> table) {
        String benchmark = result.get("benchmark").getAsString();
        String method = benchmark.substring(benchmark.lastIndexOf('.') + 1);
        String series = SERIES.get(method);
        JsonObject metric = result.getAsJsonObject("primaryMetric");
        if (series == null || !"ns/op".equals(metric.get("scoreUnit").getAsString())) {
            return;
        }
        String clazz = benchmark.substring(0, benchmark.lastIndexOf('.'));
        clazz = clazz.substring(clazz.lastIndexOf('.') + 1);
        String kind = clazz.startsWith("Mixed") ? "mixed" : "";
        JsonObject params = result.getAsJsonObject("params");
        if (params != null && params.has("size")) {
            int size = params.get("size").getAsInt();
            kind = size >= 1024 ? (size / 1024) + " KiB" : size + " B";
        }
        String category = kind + ", " + result.get("threads").getAsInt() + "T";
        double score = metric.get("score").getAsDouble();
        double error = metric.get("scoreError").isJsonNull() ? Double.NaN : metric.get("scoreError").getAsDouble();
        scores.get(series).put(category, score);
        table.computeIfAbsent(category, c -> new TreeMap<>()).put(series,
                Double.isNaN(error) ? String.format("%.1f", score) : String.format("%.1f ± %.1f", score, error));
    }

    private static CategoryPlot plot(DefaultCategoryDataset data) {
        LogAxis range = new LogAxis("ns per allocate + free (log scale)");
        range.setNumberFormatOverride(new DecimalFormat("0"));
        range.setSmallestValue(1);
        double max = 0;
        for (int r = 0; r < data.getRowCount(); r++) {
            for (int c = 0; c < data.getColumnCount(); c++) {
                Number v = data.getValue(r, c);
                max = v == null ? max : Math.max(max, v.doubleValue());
            }
        }
        range.setRange(10, Math.max(100, max * 1.5));
        CategoryAxis domain = new CategoryAxis("case (size or pattern, threads)");
        domain.setCategoryLabelPositions(CategoryLabelPositions.STANDARD);
        BarRenderer renderer = new BarRenderer();
        renderer.setBarPainter(new StandardBarPainter());
        renderer.setShadowVisible(false);
        Color[] colors = {new Color(0xC0392B), new Color(0xE67E22), new Color(0x2980B9), new Color(0x5DADE2),
                new Color(0x7F8C8D), new Color(0xBDC3C7)};
        for (int i = 0; i < colors.length; i++) {
            renderer.setSeriesPaint(i, colors[i]);
        }
        CategoryPlot plot = new CategoryPlot(data, domain, range, renderer);
        plot.setOrientation(PlotOrientation.VERTICAL);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        return plot;
    }
}
