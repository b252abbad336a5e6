package io.hotmem.bench;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.netty.buffer.AdaptiveByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.concurrent.FastThreadLocalThread;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.labels.ItemLabelAnchor;
import org.jfree.chart.labels.ItemLabelPosition;
import org.jfree.chart.labels.StandardCategoryItemLabelGenerator;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.category.DefaultCategoryDataset;

import java.awt.Color;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The fragmentation benchmark: how much resident memory (RSS) an allocator holds for a churning set of live
 * buffers, and how much it gives back when most of them are freed. Not JMH: it measures memory, not time.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp allocator-bench/target/benchmarks.jar io.hotmem.bench.FragmentationBenchmark
 *     [--all | --only name[,name]] [--quick] [--live-mib 512] [--churn 200000] [--min-kib 4] [--max-kib 256]
 *     [--survivor-every 20] [--settle-seconds 3] [--seed 42] [--out results.json] [--chart chart.png]
 *     [--heap-mib 256] [--jvm-args "extra child JVM flags"]
 * </pre>
 * hotmem's purge delay is 1 s unless a child JVM flag says otherwise, e.g.
 * {@code --jvm-args "-Dhotmem.frag.purgeMillis=100"} (the table's label then no longer applies).
 *
 * <p><b>Workload</b>, the same for every allocator (all random numbers come from two {@link SplittableRandom}s
 * seeded from {@code --seed}, and the workload's decisions never depend on the allocator, so every allocator sees
 * the same sequence of sizes, frees and fill bytes):
 * <ol>
 *   <li><b>Fill</b>: allocate buffers of log-uniform random sizes, {@code min * (max/min)^U} bytes rounded to the
 *       nearest byte (not to pages), U uniform in [0, 1) (with the defaults {@code 4096 * 2^(6U)}), until the live
 *       requested bytes reach {@code --live-mib}. Every byte of each buffer is written with a non-zero byte derived
 *       from the buffer's id (its allocation number).</li>
 *   <li><b>Churn</b>, {@code --churn} operations: one operation frees one live buffer chosen uniformly at random,
 *       then allocates (and writes) buffers of fresh random sizes while the live bytes are below the target. So
 *       an operation allocates one buffer most of the time, none or two sometimes, and after each operation the
 *       live bytes are at or above the target by less than one maximum buffer size. RSS is sampled at the end of the fill and every 1,000
 *       operations (and after the last); the peak is the largest sample, and its ratio is to the live requested
 *       bytes at the moment of that sample.</li>
 *   <li><b>Settle</b>: free every buffer but each {@code --survivor-every}-th of the live set (in its order after
 *       the churn), verify every byte of the survivors, wait {@code --settle-seconds} sampling RSS every 100 ms
 *       (the last sample is the settled RSS), verify every byte again.</li>
 * </ol>
 *
 * <p><b>Processes.</b> Each allocator runs in a child JVM of its own (same {@code java}, same class path) with a
 * fixed, pre-touched heap ({@code -Xms = -Xmx}, {@code -XX:+AlwaysPreTouch}), the serial collector (fewest GC
 * threads and side structures), {@code -XX:MaxDirectMemorySize=4g}, and the flags the JMH benchmarks give the Netty
 * peers (Unsafe and cleaner-free direct buffers allowed, leak detection off, see {@link BenchmarkBase}). The
 * workload runs on a Netty {@link FastThreadLocalThread} so Netty's thread caches are on, as on an event loop;
 * hotmem's thread caches work on any platform thread. The child prints one line {@code FRAG-RESULT <json>} that
 * the parent parses.
 *
 * <p><b>Baseline.</b> Before the allocator under test is created, the child allocates all of its own bookkeeping
 * (the arrays of sizes, ids, handles or buffers, the RSS timeline) and warms up on a throwaway instance of the same
 * allocator kind: 4 MiB live, 20,000 churn operations, verify, free all, with random numbers of its own (the measured
 * sequence is untouched). The allocator's classes are so loaded and its paths and the workload's compiled by the
 * JIT before the baseline, not charged to the measured instance; hotmem's throwaway instance is closed, Netty's
 * have no close and stay, with the pages they touched, inside the baseline. Then {@link System#gc()}, 500 ms of
 * sleep, and VmRSS is read: the baseline holds the whole JVM (pre-touched heap, metaspace, code cache, threads,
 * malloc arenas), the benchmark's arrays and the warm-up's leftovers, and every figure is RSS minus baseline. What
 * the JVM itself grows or shrinks afterwards (more JIT work, malloc arenas) is charged to the allocator: a few
 * MiB either way, nothing beside the live bytes, up to 0.2 in the settled ratio with the default 25.6 MiB kept.
 */
public final class FragmentationBenchmark {
    /** The prefix of the child's result line. */
    static final String RESULT_PREFIX = "FRAG-RESULT ";

    static final String USAGE = """
            usage: FragmentationBenchmark [--all | --only hotmem,hotmem-capped,netty-pooled,netty-adaptive] [--quick]
                [--live-mib 512] [--churn 200000] [--min-kib 4] [--max-kib 256] [--survivor-every 20]
                [--settle-seconds 3] [--seed 42] [--out results.json] [--chart chart.png] [--heap-mib 256]
                [--jvm-args "extra child JVM flags"]
              --quick: 32 MiB live, 10,000 churn operations, 1 s settle (explicit options still win)""";

    private FragmentationBenchmark() {
    }

    // ------------------------------------------------------------------------------------------------ options

    /** The allocators under test. */
    enum Kind {
        HOTMEM("hotmem", "hotmem (purgeAfter 1 s)"),
        HOTMEM_CAPPED("hotmem-capped", "hotmem (purgeAfter 1 s, residentFreeLimit 0.05)"),
        NETTY_POOLED("netty-pooled", "Netty PooledByteBufAllocator"),
        NETTY_ADAPTIVE("netty-adaptive", "Netty AdaptiveByteBufAllocator");

        final String id;
        final String label;

        Kind(String id, String label) {
            this.id = id;
            this.label = label;
        }

        static Kind of(String id) {
            for (Kind k : values()) {
                if (k.id.equals(id)) {
                    return k;
                }
            }
            throw new IllegalArgumentException("unknown allocator '" + id + "' (hotmem, hotmem-capped, "
                    + "netty-pooled, netty-adaptive)");
        }
    }

    /** {@code --help}: the usage, exit 0. */
    static final class HelpRequested extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        HelpRequested() {
            super(USAGE);
        }
    }

    /** The resolved settings; {@code child} is null in the parent. */
    record Options(long liveBytes, int churn, int minBytes, int maxBytes, int survivorEvery, double settleSeconds,
                   long seed, Path out, Path chart, List<Kind> kinds, int heapMiB, List<String> jvmArgs,
                   Kind child, boolean quick) {

        static Options parse(String[] args) {
            boolean quick = false;
            Long liveMiB = null;
            Integer churn = null;
            Double settle = null;
            int minKiB = 4;
            int maxKiB = 256;
            int every = 20;
            long seed = 42;
            Path out = null;
            Path chart = null;
            List<Kind> kinds = List.of(Kind.values());
            int heapMiB = 256;
            List<String> jvmArgs = List.of();
            Kind child = null;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("--quick")) {
                    quick = true;
                    continue;
                }
                if (a.equals("--all")) {
                    kinds = List.of(Kind.values());
                    continue;
                }
                if (a.equals("--help") || a.equals("-h")) {
                    throw new HelpRequested();
                }
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("missing value after " + a + "\n" + USAGE);
                }
                String v = args[++i];
                try {
                    switch (a) {
                        case "--live-mib" -> liveMiB = Long.parseLong(v);
                        case "--churn" -> churn = Integer.parseInt(v);
                        case "--min-kib" -> minKiB = Integer.parseInt(v);
                        case "--max-kib" -> maxKiB = Integer.parseInt(v);
                        case "--survivor-every" -> every = Integer.parseInt(v);
                        case "--settle-seconds" -> settle = Double.parseDouble(v);
                        case "--seed" -> seed = Long.parseLong(v);
                        case "--out" -> out = Path.of(v);
                        case "--chart" -> chart = Path.of(v);
                        case "--only" -> kinds = Arrays.stream(v.split(",")).map(String::trim).map(Kind::of)
                                .toList();
                        case "--heap-mib" -> heapMiB = Integer.parseInt(v);
                        case "--jvm-args" -> jvmArgs = Arrays.stream(v.trim().split("\\s+"))
                                .filter(s -> !s.isEmpty()).toList();
                        case "--child" -> child = Kind.of(v);
                        default -> throw new IllegalArgumentException("unknown option " + a + "\n" + USAGE);
                    }
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("bad number '" + v + "' after " + a + "\n" + USAGE);
                }
            }
            long live = (liveMiB != null ? liveMiB : quick ? 32 : 512) << 20;
            int ops = churn != null ? churn : quick ? 10_000 : 200_000;
            double settleSeconds = settle != null ? settle : quick ? 1 : 3;
            if (minKiB < 1 || maxKiB < minKiB || maxKiB > 1 << 20) {
                throw new IllegalArgumentException("need 1 <= --min-kib <= --max-kib <= 1048576, got " + minKiB
                        + " and " + maxKiB);
            }
            if (live <= 0 || ops < 0 || every < 1 || settleSeconds < 0 || heapMiB < 16 || kinds.isEmpty()) {
                throw new IllegalArgumentException("need --live-mib > 0, --churn >= 0, --survivor-every >= 1, "
                        + "--settle-seconds >= 0, --heap-mib >= 16\n" + USAGE);
            }
            return new Options(live, ops, minKiB * 1024, maxKiB * 1024, every, settleSeconds, seed, out, chart,
                    kinds, heapMiB, jvmArgs, child, quick);
        }

        /** The options a child needs, fully resolved. */
        List<String> childArgs(Kind kind) {
            return List.of("--child", kind.id, "--live-mib", Long.toString(liveBytes >> 20), "--churn",
                    Integer.toString(churn), "--min-kib", Integer.toString(minBytes / 1024), "--max-kib",
                    Integer.toString(maxBytes / 1024), "--survivor-every", Integer.toString(survivorEvery),
                    "--settle-seconds", Double.toString(settleSeconds), "--seed", Long.toString(seed));
        }

        JsonObject toJson() {
            JsonObject o = new JsonObject();
            o.addProperty("liveMiB", liveBytes >> 20);
            o.addProperty("churn", churn);
            o.addProperty("minKiB", minBytes / 1024);
            o.addProperty("maxKiB", maxBytes / 1024);
            o.addProperty("survivorEvery", survivorEvery);
            o.addProperty("settleSeconds", settleSeconds);
            o.addProperty("seed", seed);
            o.addProperty("quick", quick);
            o.addProperty("heapMiB", heapMiB);
            return o;
        }
    }

    // ------------------------------------------------------------------------------------------------ main

    /**
     * Runs the parent (every allocator, or {@code --only} some, each in a child JVM) or, with {@code --child}, one
     * allocator's workload in this JVM.
     *
     * @param args see the class comment
     */
    public static void main(String[] args) {
        System.exit(run(args, System.out));
    }

    /**
     * As {@link #main}, without exiting.
     *
     * @param args see the class comment
     * @param out  where the tables (parent) or the result line (child) go
     * @return the exit code: 0 if every run completed and verified, 1 if not, 2 for bad options
     */
    static int run(String[] args, PrintStream out) {
        Options o;
        try {
            o = Options.parse(args);
        } catch (HelpRequested e) {
            out.println(USAGE);
            return 0;
        } catch (IllegalArgumentException e) {
            out.println(e.getMessage());
            return 2;
        }
        if (o.child() != null) {
            return runChild(o, out);
        }
        return runParent(o, out);
    }

    // ------------------------------------------------------------------------------------------------ parent

    /** The child JVM's flags, before the class path. */
    static List<String> childJvmFlags(Options o) {
        List<String> flags = new ArrayList<>(List.of(
                "--enable-native-access=ALL-UNNAMED",
                "-Xms" + o.heapMiB() + "m", "-Xmx" + o.heapMiB() + "m", "-XX:+AlwaysPreTouch", "-XX:+UseSerialGC",
                "-XX:MaxDirectMemorySize=4g",
                // As BenchmarkBase gives the Netty peers: cleaner-free, Unsafe direct buffers, no leak detection.
                "-Dio.netty.leakDetection.level=disabled",
                "--sun-misc-unsafe-memory-access=allow",
                "--add-opens=java.base/java.nio=ALL-UNNAMED",
                "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
                "-Dio.netty.tryReflectionSetAccessible=true",
                "-Djava.awt.headless=true"));
        flags.addAll(o.jvmArgs());
        return flags;
    }

    private static int runParent(Options o, PrintStream out) {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        String classPath = System.getProperty("java.class.path");
        List<JsonObject> results = new ArrayList<>();
        boolean ok = true;
        for (Kind kind : o.kinds()) {
            List<String> cmd = new ArrayList<>();
            cmd.add(java);
            cmd.addAll(childJvmFlags(o));
            cmd.add("-cp");
            cmd.add(classPath);
            cmd.add(FragmentationBenchmark.class.getName());
            cmd.addAll(o.childArgs(kind));
            out.println("== " + kind.label + ": " + String.join(" ", cmd.subList(1, cmd.size()))
                    .replace(classPath, "<class path>"));
            JsonObject result = null;
            int exit;
            try {
                Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
                p.getOutputStream().close();
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        if (line.startsWith(RESULT_PREFIX)) {
                            result = JsonParser.parseString(line.substring(RESULT_PREFIX.length()))
                                    .getAsJsonObject();
                        } else {
                            out.println("  " + line);
                        }
                    }
                }
                exit = p.waitFor();
            } catch (IOException e) {
                out.println("could not run the child for " + kind.id + ": " + e);
                return 1;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return 1;
            }
            if (result == null) {
                out.println("child " + kind.id + " exited " + exit + " without a result line");
                ok = false;
                continue;
            }
            result.addProperty("exitCode", exit);
            ok &= exit == 0 && result.get("verified").getAsBoolean();
            results.add(result);
        }
        printTables(results, out);
        try {
            if (o.out() != null) {
                writeJson(o, results, o.out());
                out.println("wrote " + o.out());
            }
            if (o.chart() != null) {
                writeChart(o, results, o.chart());
                out.println("wrote " + o.chart());
            }
        } catch (IOException e) {
            out.println("could not write: " + e);
            return 1;
        }
        if (!ok) {
            out.println("FAILED: a child failed or a verification did not pass");
        }
        return ok ? 0 : 1;
    }

    private static void printTables(List<JsonObject> results, PrintStream out) {
        out.println();
        out.println("| | peak during churn / live bytes | after settling / kept bytes |");
        out.println("|---|---|---|");
        for (JsonObject r : results) {
            out.printf(Locale.ROOT, "| %s | %s | %s |%n", r.get("label").getAsString(),
                    ratio(r.get("peakRatio").getAsDouble()), ratio(r.get("settledRatio").getAsDouble()));
        }
        out.println();
        out.println("| allocator | baseline RSS | peak RSS above baseline | live at peak | settled RSS above "
                + "baseline | kept | fill | churn | total | verified |");
        out.println("|---|---|---|---|---|---|---|---|---|---|");
        for (JsonObject r : results) {
            out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s | %s (%d buffers) | %.1f s | %.1f s | %.1f s | %s |%n",
                    r.get("allocator").getAsString(), mib(r.get("baselineRssBytes").getAsLong()),
                    mib(r.get("peakRssAboveBaselineBytes").getAsLong()), mib(r.get("liveBytesAtPeak").getAsLong()),
                    mib(r.get("settledRssAboveBaselineBytes").getAsLong()), mib(r.get("keptBytes").getAsLong()),
                    r.get("keptBuffers").getAsInt(), r.get("fillSeconds").getAsDouble(),
                    r.get("churnSeconds").getAsDouble(), r.get("totalSeconds").getAsDouble(),
                    r.get("verified").getAsBoolean() ? "yes" : "NO");
        }
        out.println();
    }

    /** Two decimals below 10, one above: 1.40, 26.0. */
    static String ratio(double r) {
        return String.format(Locale.ROOT, r < 10 ? "%.2f" : "%.1f", r);
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }

    private static void writeJson(Options o, List<JsonObject> results, Path file) throws IOException {
        JsonObject root = new JsonObject();
        root.addProperty("benchmark", "FragmentationBenchmark");
        root.addProperty("date", Instant.now().toString());
        root.addProperty("javaVersion", System.getProperty("java.runtime.version"));
        root.addProperty("javaVendor", System.getProperty("java.vendor"));
        root.addProperty("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                + System.getProperty("os.arch"));
        root.addProperty("cpus", Runtime.getRuntime().availableProcessors());
        root.addProperty("memTotal", memTotal());
        root.add("options", o.toJson());
        JsonArray flags = new JsonArray();
        childJvmFlags(o).forEach(flags::add);
        root.add("childJvmFlags", flags);
        JsonArray rs = new JsonArray();
        results.forEach(rs::add);
        root.add("results", rs);
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(file, new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(root)
                + "\n");
    }

    private static String memTotal() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    return line.substring("MemTotal:".length()).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
        return "unknown";
    }

    /** The bar chart: two groups (peak / live, settled / kept), one bar per allocator, ratios on a log axis. */
    static void writeChart(Options o, List<JsonObject> results, Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        double max = 1;
        for (JsonObject r : results) {
            String series = r.get("label").getAsString();
            double peak = r.get("peakRatio").getAsDouble();
            double settled = r.get("settledRatio").getAsDouble();
            data.addValue(peak, series, "peak during churn / live bytes");
            data.addValue(settled, series, "after settling / kept bytes");
            max = Math.max(max, Math.max(peak, settled));
        }
        LogAxis range = new LogAxis("RSS above baseline / requested bytes (log scale; 1 = no overhead)");
        range.setBase(2);
        range.setTickUnit(new NumberTickUnit(1)); // a tick at every power of two: 1, 2, 4, ... 32
        range.setNumberFormatOverride(new DecimalFormat("0.#"));
        range.setSmallestValue(0.5);
        range.setRange(0.8, Math.max(4, max * 1.6));
        CategoryAxis domain = new CategoryAxis(String.format(Locale.ROOT,
                "%d MiB live of %d-%d KiB log-uniform buffers, %,d churn operations; then 1 in %d kept, %.0f s settle",
                o.liveBytes() >> 20, o.minBytes() / 1024, o.maxBytes() / 1024, o.churn(), o.survivorEvery(),
                o.settleSeconds()));
        BarRenderer renderer = new BarRenderer();
        renderer.setBarPainter(new StandardBarPainter());
        renderer.setShadowVisible(false);
        renderer.setItemMargin(0.05);
        renderer.setDefaultItemLabelGenerator(new StandardCategoryItemLabelGenerator("{2}",
                new DecimalFormat("0.00")));
        renderer.setDefaultItemLabelsVisible(true);
        renderer.setDefaultPositiveItemLabelPosition(new ItemLabelPosition(ItemLabelAnchor.OUTSIDE12,
                TextAnchor.BOTTOM_CENTER));
        Color[] colors = {new Color(0xC0392B), new Color(0xE67E22), new Color(0x5DADE2), new Color(0x2980B9)};
        for (int i = 0; i < colors.length; i++) {
            renderer.setSeriesPaint(i, colors[i]);
        }
        CategoryPlot plot = new CategoryPlot(data, domain, range, renderer);
        plot.setOrientation(PlotOrientation.VERTICAL);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        JFreeChart chart = new JFreeChart("Fragmentation: resident memory per requested byte (lower is better)",
                JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 1000, 600);
    }

    // ------------------------------------------------------------------------------------------------ child

    /** hotmem's logger (node transitions at INFO, as close unplugs each node), held so its level stays set. */
    private static final java.util.logging.Logger HOTMEM_LOG = java.util.logging.Logger.getLogger("io.hotmem");

    private static int runChild(Options o, PrintStream out) {
        HOTMEM_LOG.setLevel(java.util.logging.Level.WARNING);
        AtomicReference<Object> outcome = new AtomicReference<>();
        // A Netty thread, so that Netty's pools use their thread caches (as on an event loop).
        Thread t = new FastThreadLocalThread(() -> {
            try {
                outcome.set(new Workload(o, "frag").run());
            } catch (Throwable e) {
                outcome.set(e);
            }
        }, "frag-workload");
        t.start();
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        }
        if (outcome.get() instanceof Throwable e) {
            e.printStackTrace();
            return 1;
        }
        JsonObject result = (JsonObject) outcome.get();
        out.println(RESULT_PREFIX + new GsonBuilder().disableHtmlEscaping().create().toJson(result));
        out.flush();
        return result.get("verified").getAsBoolean() ? 0 : 1;
    }

    /** One allocator's run in this JVM. */
    static final class Workload {
        /** The warm-up's live bytes and churn operations (see {@link #warmUp}). */
        static final long WARM_UP_LIVE_BYTES = 4L << 20;
        static final int WARM_UP_CHURN = 20_000;
        private final Options o;
        private final Kind kind;
        /** The most buffers that can be live at once: the target in minimum-sized buffers, plus one. */
        private final int capacity;
        private final int[] sizes;
        private final int[] ids;
        private final Subject subject;
        /** Timeline: operation number (negative during the settle: -1 - tenths of a second), RSS, live bytes. */
        private final long[] tlOp;
        private final long[] tlRss;
        private final long[] tlLive;
        private int tlCount;
        private final SplittableRandom sizeRandom;
        private final SplittableRandom victimRandom;
        private final double sizeRatio;
        private int count;
        private long live;
        private int nextId;
        private long baseline;

        Workload(Options o, String name) {
            this.o = o;
            this.kind = o.child();
            this.capacity = (int) Math.min(Integer.MAX_VALUE - 8, o.liveBytes() / o.minBytes() + 2);
            this.sizes = new int[capacity];
            this.ids = new int[capacity];
            this.subject = Subject.create(kind, capacity, o, name);
            int samples = o.churn() / 1000 + 4 + (int) Math.ceil(o.settleSeconds() * 10) + 4;
            this.tlOp = new long[samples];
            this.tlRss = new long[samples];
            this.tlLive = new long[samples];
            this.sizeRandom = new SplittableRandom(o.seed());
            this.victimRandom = new SplittableRandom(o.seed() * 0x9E3779B97F4A7C15L + 1);
            this.sizeRatio = (double) o.maxBytes() / o.minBytes();
        }

        /** The next buffer size: log-uniform between min and max, rounded to a byte (StrictMath: the same bits
         * in every JVM and in interpreted or compiled code). */
        static int size(SplittableRandom r, int min, double ratio) {
            return (int) Math.round(min * StrictMath.pow(ratio, r.nextDouble()));
        }

        /** The byte every byte of buffer {@code id} holds: never 0, so an unwritten (fresh, zero) page fails. */
        static byte fillByte(int id) {
            int h = id * 0x9E3779B1;
            h ^= h >>> 15;
            return (byte) (1 + Integer.remainderUnsigned(h, 255));
        }

        JsonObject run() throws InterruptedException {
            warmUp();
            System.gc();
            Thread.sleep(500);
            baseline = rss();
            if (baseline < 0) {
                throw new IllegalStateException("cannot read VmRSS from /proc/self/status (Linux only)");
            }
            log("baseline RSS %s", mib(baseline));
            long t0 = System.nanoTime();
            subject.open();

            // 1. Fill
            while (live < o.liveBytes()) {
                allocateNext();
            }
            int buffersAtFill = count;
            long liveAtFill = live;
            long tFill = System.nanoTime();
            long r = sample(0);
            long peak = r;
            long liveAtPeak = live;
            log("fill: %d buffers, %s live, RSS above baseline %s (%.1f s)", count, mib(live), mib(r - baseline),
                    (tFill - t0) / 1e9);

            // 2. Churn
            long allocations = count;
            for (int op = 1; op <= o.churn(); op++) {
                allocations += churnOp();
                if (op % 1000 == 0 || op == o.churn()) {
                    r = sample(op);
                    if (r > peak) {
                        peak = r;
                        liveAtPeak = live;
                    }
                    if (op % 50_000 == 0) {
                        log("churn: %,d operations, RSS above baseline %s, peak %s", op, mib(r - baseline),
                                mib(peak - baseline));
                    }
                }
            }
            long tChurn = System.nanoTime();
            log("churn: %,d operations, %,d allocations in all, %d buffers live (%s) (%.1f s)", o.churn(),
                    allocations, count, mib(live), (tChurn - tFill) / 1e9);

            // 3. Settle: keep every survivorEvery-th buffer of the live set
            int kept = 0;
            for (int i = 0; i < count; i++) {
                if (i % o.survivorEvery() == 0) {
                    if (kept != i) {
                        subject.move(i, kept);
                        sizes[kept] = sizes[i];
                        ids[kept] = ids[i];
                    }
                    kept++;
                } else {
                    subject.free(i);
                    live -= sizes[i];
                }
            }
            count = kept;
            long keptBytes = live;
            sample(-1);
            boolean verified1 = verifyAll();
            long settled = -1;
            long settleMin = Long.MAX_VALUE;
            long steps = Math.round(o.settleSeconds() * 10);
            long settleStart = System.nanoTime();
            for (long s = 1; s <= steps; s++) {
                long due = settleStart + s * 100_000_000L;
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
                settled = sample(-1 - s);
                settleMin = Math.min(settleMin, settled);
            }
            if (settled < 0) {
                settled = sample(-1);
                settleMin = settled;
            }
            boolean verified2 = verifyAll();
            long tEnd = System.nanoTime();
            log("settle: %d buffers kept (%s), RSS above baseline %s after %.1f s; verified: %s", kept,
                    mib(keptBytes), mib(settled - baseline), o.settleSeconds(), verified1 && verified2);
            subject.close();

            JsonObject j = new JsonObject();
            j.addProperty("allocator", kind.id);
            j.addProperty("label", kind.label);
            j.addProperty("config", subject.describe());
            j.addProperty("baselineRssBytes", baseline);
            j.addProperty("buffersAtFill", buffersAtFill);
            j.addProperty("liveBytesAtFill", liveAtFill);
            j.addProperty("allocations", allocations);
            j.addProperty("peakRssAboveBaselineBytes", peak - baseline);
            j.addProperty("liveBytesAtPeak", liveAtPeak);
            j.addProperty("peakRatio", (double) (peak - baseline) / liveAtPeak);
            j.addProperty("settledRssAboveBaselineBytes", settled - baseline);
            j.addProperty("settledMinRssAboveBaselineBytes", settleMin - baseline);
            j.addProperty("keptBuffers", kept);
            j.addProperty("keptBytes", keptBytes);
            j.addProperty("settledRatio", (double) (settled - baseline) / keptBytes);
            j.addProperty("fillSeconds", (tFill - t0) / 1e9);
            j.addProperty("churnSeconds", (tChurn - tFill) / 1e9);
            j.addProperty("totalSeconds", (tEnd - t0) / 1e9);
            j.addProperty("verifiedAfterFree", verified1);
            j.addProperty("verifiedAfterSettle", verified2);
            j.addProperty("verified", verified1 && verified2);
            JsonArray timeline = new JsonArray();
            for (int i = 0; i < tlCount; i++) {
                JsonArray s = new JsonArray();
                s.add(tlOp[i]);
                s.add(tlRss[i] - baseline);
                s.add(tlLive[i]);
                timeline.add(s);
            }
            j.addProperty("timelineFormat", "[operation (0 = end of fill; -1 = settle start, -1-n = n tenths of a "
                    + "second into the settle), RSS above baseline, live requested bytes]");
            j.add("timeline", timeline);
            return j;
        }

        private void allocateNext() {
            int size = size(sizeRandom, o.minBytes(), sizeRatio);
            int id = nextId++;
            int slot = count++;
            subject.allocate(slot, size);
            subject.fill(slot, fillByte(id));
            sizes[slot] = size;
            ids[slot] = id;
            live += size;
        }

        /** Swap-remove: the last buffer takes the freed one's place. */
        private void removeAt(int slot) {
            int last = --count;
            if (slot != last) {
                subject.move(last, slot);
                sizes[slot] = sizes[last];
                ids[slot] = ids[last];
            }
        }

        private boolean verifyAll() {
            int bad = 0;
            for (int i = 0; i < count; i++) {
                if (!subject.verify(i, fillByte(ids[i]))) {
                    if (bad++ < 5) {
                        log("VERIFY FAILED: buffer id %d (%d bytes)", ids[i], sizes[i]);
                    }
                }
            }
            if (bad > 0) {
                log("VERIFY FAILED: %d of %d buffers", bad, count);
            }
            return bad == 0;
        }

        private long sample(long op) {
            long r = rss();
            if (tlCount < tlOp.length) {
                tlOp[tlCount] = op;
                tlRss[tlCount] = r;
                tlLive[tlCount] = live;
                tlCount++;
            }
            return r;
        }

        /** The warm-up of the allocator kind, before the baseline, on a throwaway instance with its own random
         * numbers (the measured sequence is untouched): {@link #WARM_UP_LIVE_BYTES} live, {@link #WARM_UP_CHURN}
         * churn operations, verify, free everything, close. The allocator's classes are loaded and its paths and
         * the workload's compiled by the JIT before the baseline rather than charged to the measured instance. */
        private void warmUp() {
            Options w = new Options(Math.min(WARM_UP_LIVE_BYTES, o.liveBytes()), WARM_UP_CHURN, o.minBytes(),
                    o.maxBytes(), o.survivorEvery(), 0, ~o.seed(), null, null, List.of(kind), o.heapMiB(), List.of(),
                    kind, o.quick());
            Workload warm = new Workload(w, "frag-warmup");
            warm.exercise();
            warmUpKeeper = warm.subject; // Netty's allocators have no close: kept, their memory is in the baseline
        }

        private void exercise() {
            subject.open();
            while (live < o.liveBytes()) {
                allocateNext();
            }
            for (int op = 1; op <= o.churn(); op++) {
                churnOp();
            }
            if (!verifyAll()) {
                throw new IllegalStateException("warm-up verification failed");
            }
            for (int i = 0; i < count; i++) {
                subject.free(i);
            }
            count = 0;
            live = 0;
            subject.close();
        }

        /** One churn operation: free a random live buffer, then allocate while below the target. */
        private int churnOp() {
            int victim = victimRandom.nextInt(count);
            subject.free(victim);
            live -= sizes[victim];
            removeAt(victim);
            int allocated = 0;
            while (live < o.liveBytes()) {
                allocateNext();
                allocated++;
            }
            return allocated;
        }

        private void log(String format, Object... args) {
            System.err.printf(Locale.ROOT, "[%s] " + format + "%n", prepend(kind.id, args));
        }

        private static Object[] prepend(Object first, Object[] rest) {
            Object[] all = new Object[rest.length + 1];
            all[0] = first;
            System.arraycopy(rest, 0, all, 1, rest.length);
            return all;
        }
    }

    /** Keeps the warm-up instance reachable for the child's life. */
    static volatile Object warmUpKeeper;

    /** VmRSS of this process in bytes, from {@code /proc/self/status}; -1 where it cannot be read. */
    static long rss() {
        try {
            byte[] status = Files.readAllBytes(Path.of("/proc/self/status"));
            String s = new String(status, StandardCharsets.US_ASCII);
            int i = s.indexOf("VmRSS:");
            if (i < 0) {
                return -1;
            }
            long kb = 0;
            for (i += "VmRSS:".length(); i < s.length() && s.charAt(i) != '\n'; i++) {
                char c = s.charAt(i);
                if (c >= '0' && c <= '9') {
                    kb = kb * 10 + (c - '0');
                }
            }
            return kb * 1024;
        } catch (IOException e) {
            return -1;
        }
    }

    /** Every byte of {@code s} is {@code b}. */
    static boolean holds(MemorySegment s, long size, byte b) {
        long pattern = (b & 0xFFL) * 0x0101010101010101L;
        long i = 0;
        for (; i + 8 <= size; i += 8) {
            if (s.get(ValueLayout.JAVA_LONG_UNALIGNED, i) != pattern) {
                return false;
            }
        }
        for (; i < size; i++) {
            if (s.get(ValueLayout.JAVA_BYTE, i) != b) {
                return false;
            }
        }
        return true;
    }

    // ------------------------------------------------------------------------------------------------ subjects

    /** One allocator under test, its live buffers kept by slot in arrays allocated before the baseline. */
    abstract static class Subject {
        final int capacity;

        Subject(int capacity) {
            this.capacity = capacity;
        }

        static Subject create(Kind kind, int capacity, Options o, String name) {
            return switch (kind) {
                case HOTMEM -> new Hotmem(capacity, o, name, Double.POSITIVE_INFINITY);
                case HOTMEM_CAPPED -> new Hotmem(capacity, o, name, 0.05);
                case NETTY_POOLED -> new Netty(capacity, () -> new PooledByteBufAllocator(true),
                        "new PooledByteBufAllocator(true), directBuffer(size, size)");
                case NETTY_ADAPTIVE -> new Netty(capacity, () -> new AdaptiveByteBufAllocator(true, true),
                        "new AdaptiveByteBufAllocator(true, true), directBuffer(size, size)");
            };
        }

        /** Creates the allocator. */
        abstract void open();

        abstract void allocate(int slot, int size);

        /** Writes {@code b} to every byte of the buffer in {@code slot}. */
        abstract void fill(int slot, byte b);

        /** @return whether every byte of the buffer in {@code slot} is {@code b} */
        abstract boolean verify(int slot, byte b);

        abstract void free(int slot);

        /** The buffer in {@code from} is now in {@code to} ({@code to}'s was freed or moved). */
        abstract void move(int from, int to);

        abstract void close();

        abstract String describe();
    }

    /** hotmem: HOTREMOVABLE allocations, written and read through a pin. */
    static final class Hotmem extends Subject {
        private final long[] handles;
        private final long nodeBytes;
        private final int nodes;
        private final int maxOrder;
        private final String name;
        /** {@link PageAllocator.Builder#residentFreeLimit}, +infinity for the default (no cap). */
        private final double residentFreeLimit;
        private PageAllocator a;

        Hotmem(int capacity, Options o, String name, double residentFreeLimit) {
            super(capacity);
            this.name = name;
            this.residentFreeLimit = residentFreeLimit;
            this.handles = new long[capacity];
            // Hot-removable nodes of 256 MiB, at least 4 and at least twice the live bytes, so that the nodes'
            // size is never what limits the test; with MMAP backing, memory never touched costs no RSS.
            this.nodeBytes = 256L << 20;
            this.nodes = (int) Math.max(4, (2 * o.liveBytes() + nodeBytes - 1) / nodeBytes);
            int needed = 64 - Long.numberOfLeadingZeros((o.maxBytes() + 4095L) / 4096 - 1);
            this.maxOrder = Math.max(10, needed);
        }

        @Override
        void open() {
            PageAllocator.Builder b = PageAllocator.builder().name(name)
                    .pageSize(4096).maxOrder(maxOrder)
                    .purgeAfter(Duration.ofMillis(Long.getLong("hotmem.frag.purgeMillis", 1000)))
                    .residentFreeLimit(residentFreeLimit)
                    .node(NodeSpec.fixed(64L << 20));
            for (int i = 0; i < nodes; i++) {
                b.node(NodeSpec.hotRemovable(nodeBytes));
            }
            a = b.build();
        }

        @Override
        void allocate(int slot, int size) {
            handles[slot] = a.allocate(size, AllocFlags.HOTREMOVABLE);
        }

        @Override
        void fill(int slot, byte b) {
            try (Pin p = a.pin(handles[slot])) {
                p.segment().fill(b);
            }
        }

        @Override
        boolean verify(int slot, byte b) {
            try (Pin p = a.pin(handles[slot])) {
                return holds(p.segment(), p.size(), b);
            }
        }

        @Override
        void free(int slot) {
            a.free(handles[slot]);
            handles[slot] = PageAllocator.NULL_HANDLE;
        }

        @Override
        void move(int from, int to) {
            handles[to] = handles[from];
            handles[from] = PageAllocator.NULL_HANDLE;
        }

        @Override
        void close() {
            a.close();
        }

        @Override
        String describe() {
            return "PageAllocator pageSize 4096, maxOrder " + maxOrder + ", nodes fixed(64 MiB) + " + nodes
                    + " x hotRemovable(256 MiB), purgeAfter 1 s"
                    + (residentFreeLimit == Double.POSITIVE_INFINITY ? "" : ", residentFreeLimit " + residentFreeLimit)
                    + ", default backing and background agent; "
                    + "allocate(size, HOTREMOVABLE), pin(h).segment().fill(b)";
        }
    }

    /** A Netty direct allocator, written and read through a segment over the buffer's NIO view. */
    static final class Netty extends Subject {
        private final ByteBuf[] buffers;
        private final java.util.function.Supplier<ByteBufAllocator> factory;
        private final String description;
        private ByteBufAllocator a;

        Netty(int capacity, java.util.function.Supplier<ByteBufAllocator> factory, String description) {
            super(capacity);
            this.buffers = new ByteBuf[capacity];
            this.factory = factory;
            this.description = description;
        }

        @Override
        void open() {
            a = factory.get();
        }

        @Override
        void allocate(int slot, int size) {
            buffers[slot] = a.directBuffer(size, size);
        }

        @Override
        void fill(int slot, byte b) {
            ByteBuf buf = buffers[slot];
            MemorySegment.ofBuffer(buf.nioBuffer(0, buf.capacity())).fill(b);
        }

        @Override
        boolean verify(int slot, byte b) {
            ByteBuf buf = buffers[slot];
            int size = buf.capacity();
            return holds(MemorySegment.ofBuffer(buf.nioBuffer(0, size)), size, b);
        }

        @Override
        void free(int slot) {
            buffers[slot].release();
            buffers[slot] = null;
        }

        @Override
        void move(int from, int to) {
            buffers[to] = buffers[from];
            buffers[from] = null;
        }

        @Override
        void close() {
            // Netty's allocators have no close; the buffers left are released with the process.
        }

        @Override
        String describe() {
            return description + ", MemorySegment.ofBuffer(buf.nioBuffer(0, size)).fill(b)";
        }
    }
}
