package io.hotmem.bench;

import io.hotmem.AllocFlags;
import io.hotmem.HotplugCommands;
import io.hotmem.HotplugListener;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationProgress;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The live demo: an allocator with node 0 fixed and nodes 1 and 2 hot-removable, a workload of threads that
 * allocate, write, verify and free HOTREMOVABLE buffers while keeping a set of long-lived ones with known contents,
 * and the original memory-hotplug sequence run through {@link HotplugCommands}: status; disable 1; drain 1;
 * unplug 1; status; plug 1; enable 1; status. It prints the workload's throughput and latency before, during and
 * after the drain, the process RSS around the unplug, and whether every long-lived buffer survived (exit code 1
 * if not).
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp allocator-bench/target/benchmarks.jar io.hotmem.bench.Demo
 *     [--node-mib N] [--long-lived N] [--long-lived-kib N] [--workers N] [--phase-seconds S] [--interactive]
 * </pre>
 * With {@code --interactive} the workload keeps running and a prompt reads the same commands ({@code help});
 * {@code quit} or end of input stops it.
 */
public final class Demo {
    /** Demo settings; the defaults make RSS changes plain to see and run in well under a minute. */
    record Options(long nodeMiB, int longLived, int longLivedKiB, int workers, double phaseSeconds,
                   boolean interactive) {
        static Options parse(String[] args) {
            long nodeMiB = 256;
            int longLived = 1024;
            int longLivedKiB = 128;
            int workers = 2;
            double phase = 2;
            boolean interactive = false;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("--interactive")) {
                    interactive = true;
                    continue;
                }
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("missing value after " + a + "\n" + USAGE);
                }
                String v = args[++i];
                switch (a) {
                    case "--node-mib" -> nodeMiB = Long.parseLong(v);
                    case "--long-lived" -> longLived = Integer.parseInt(v);
                    case "--long-lived-kib" -> longLivedKiB = Integer.parseInt(v);
                    case "--workers" -> workers = Integer.parseInt(v);
                    case "--phase-seconds" -> phase = Double.parseDouble(v);
                    default -> throw new IllegalArgumentException("unknown option " + a + "\n" + USAGE);
                }
            }
            if ((long) longLived * longLivedKiB > nodeMiB * 1024 / 2) {
                throw new IllegalArgumentException("long-lived data (" + longLived + " x " + longLivedKiB
                        + " KiB) must fit in half a node (" + nodeMiB + " MiB)");
            }
            return new Options(nodeMiB, longLived, longLivedKiB, workers, phase, interactive);
        }
    }

    static final String USAGE = "usage: Demo [--node-mib N] [--long-lived N] [--long-lived-kib N] [--workers N]"
            + " [--phase-seconds S] [--interactive]";

    private final Options o;
    private final PrintStream out;
    private final PageAllocator a;
    private final HotplugCommands commands;
    private final long[] longLived;
    private final Recorder latency = new Recorder(3);
    private final AtomicLong ops = new AtomicLong();
    private final AtomicBoolean stop = new AtomicBoolean();
    private final AtomicReference<Throwable> workloadFailure = new AtomicReference<>();

    private Demo(Options o, PrintStream out) {
        // The demo prints what happens itself; hotmem's INFO log lines (through System.Logger) would interleave.
        java.util.logging.Logger.getLogger("io.hotmem").setLevel(java.util.logging.Level.WARNING);
        this.o = o;
        this.out = out;
        this.a = PageAllocator.builder().name("demo").backing(MemoryBacking.AUTO).jmx(true)
                .node(NodeSpec.fixed(64L << 20))
                .node(NodeSpec.hotRemovable(o.nodeMiB() << 20))
                .node(NodeSpec.hotRemovable(o.nodeMiB() << 20))
                .build();
        this.commands = new HotplugCommands(a);
        this.longLived = new long[o.longLived()];
    }

    /** Runs the demo: {@code java ... io.hotmem.bench.Demo [options]}. */
    public static void main(String[] args) {
        System.exit(run(args, System.out, System.in));
    }

    /**
     * @return the exit code: 0 when every long-lived buffer was verified intact, 1 otherwise, 2 for bad options
     */
    static int run(String[] args, PrintStream out, InputStream in) {
        Options o;
        try {
            o = Options.parse(args);
        } catch (IllegalArgumentException e) {
            out.println(e.getMessage());
            return 2;
        }
        Demo d = new Demo(o, out);
        try {
            return d.run(in);
        } finally {
            d.a.close();
        }
    }

    private int run(InputStream in) {
        out.printf(Locale.ROOT, "hotmem demo: node 0 fixed 64 MiB, nodes 1 and 2 hot-removable %d MiB each%n",
                o.nodeMiB());
        fillLongLived();
        out.printf(Locale.ROOT, "%d long-lived buffers of %d KiB written (%s), %d workload threads started%n%n",
                o.longLived(), o.longLivedKiB(), mib((long) o.longLived() * o.longLivedKiB() << 10), o.workers());
        List<Thread> workers = new ArrayList<>();
        for (int i = 0; i < o.workers(); i++) {
            final long seed = 1000 + i;
            workers.add(Thread.ofPlatform().name("workload-" + i).start(() -> work(seed)));
        }
        try {
            if (o.interactive()) {
                interactive(in);
            } else {
                scripted();
            }
        } finally {
            stop.set(true);
            for (Thread t : workers) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        if (workloadFailure.get() != null) {
            out.println("workload failed: " + workloadFailure.get());
            return 1;
        }
        int bad = verifyLongLived();
        if (bad > 0) {
            out.printf(Locale.ROOT, "LOST DATA: %d of %d long-lived buffers differ%n", bad, o.longLived());
            return 1;
        }
        out.printf(Locale.ROOT, "verified %d long-lived buffers (%s) after %d workload operations: none lost%n",
                o.longLived(), mib((long) o.longLived() * o.longLivedKiB() << 10), ops.get());
        return 0;
    }

    private void scripted() {
        sleep(o.phaseSeconds());
        latency.getIntervalHistogram(); // start a fresh phase
        long t0 = System.nanoTime();
        long ops0 = ops.get();
        sleep(o.phaseSeconds());
        Phase before = phase("before", t0, ops0);
        command("status");
        command("disable 1");
        HotplugListener progress = new HotplugListener() {
            @Override
            public void onProgress(RelocationProgress p) {
                out.println("  .. " + p);
            }
        };
        a.addListener(progress);
        latency.getIntervalHistogram(); // start a fresh phase
        t0 = System.nanoTime();
        ops0 = ops.get();
        command("drain 1 30");
        Phase during = phase("during drain", t0, ops0);
        a.removeListener(progress);
        long rssBefore = rssBytes();
        command("unplug 1");
        long rssAfter = rssBytes();
        if (rssBefore >= 0) {
            out.printf(Locale.ROOT, "process RSS: %s before unplug, %s after (%s returned to the OS)%n%n",
                    mib(rssBefore), mib(rssAfter), mib(rssBefore - rssAfter));
        }
        command("status");
        command("plug 1");
        command("enable 1");
        latency.getIntervalHistogram(); // start a fresh phase
        t0 = System.nanoTime();
        ops0 = ops.get();
        sleep(o.phaseSeconds());
        Phase after = phase("after", t0, ops0);
        command("status");
        Phase limited = capacityPhase();
        out.println("workload (each operation: allocate, write, verify and free a 4-64 KiB buffer, or check 4 words "
                + "of a long-lived one)");
        out.printf(Locale.ROOT, "  %-13s %9s %12s %10s %10s %10s%n", "phase", "seconds", "ops/s", "p50 us",
                "p99 us", "max us");
        for (Phase p : List.of(before, during, after, limited)) {
            out.println("  " + p);
        }
        out.println();
    }

    /**
     * The capacity limit goes down by one node under the live workload: the governor (on the background agent)
     * takes the emptiest hot-removable node offline by itself; then the limit is lifted and the node comes back.
     */
    private Phase capacityPhase() {
        long plugged = a.pluggedBytes();
        long limitMiB = (plugged >> 20) - o.nodeMiB();
        long rssBefore = rssBytes();
        latency.getIntervalHistogram(); // start a fresh phase
        long t0 = System.nanoTime();
        long ops0 = ops.get();
        command("capacity " + limitMiB);
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (a.pluggedBytes() > limitMiB << 20 && System.nanoTime() < deadline) {
            sleep(0.05);
        }
        Phase limited = phase("under limit", t0, ops0);
        long rssAfter = rssBytes();
        int bad = verifyLongLived();
        out.printf(Locale.ROOT, "the governor shrank hotmem to %s by itself in %.1f s (limit %d MiB); %s%n",
                mib(a.pluggedBytes()), limited.seconds(), limitMiB,
                bad == 0 ? "every long-lived buffer verified" : "LOST DATA in " + bad + " buffers");
        if (rssBefore >= 0) {
            out.printf(Locale.ROOT, "process RSS: %s before the limit, %s after (%s returned to the OS)%n%n",
                    mib(rssBefore), mib(rssAfter), mib(rssBefore - rssAfter));
        }
        command("status");
        command("capacity none");
        for (int n = 1; n < a.nodeCount(); n++) {
            if (a.status().node(n).state() == io.hotmem.NodeState.UNPLUGGED) {
                command("plug " + n);
                command("enable " + n);
            }
        }
        out.printf(Locale.ROOT, "limit lifted: hotmem holds %s again%n%n", mib(a.pluggedBytes()));
        return limited;
    }

    private void interactive(InputStream in) {
        out.println("interactive: the workload keeps running; type a command (help), or quit");
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        a.addListener(new HotplugListener() {
            @Override
            public void onProgress(RelocationProgress p) {
                out.println("  .. " + p);
            }
        });
        while (true) {
            out.print("hotmem> ");
            out.flush();
            String line;
            try {
                line = r.readLine();
            } catch (IOException e) {
                break;
            }
            if (line == null || line.strip().equalsIgnoreCase("quit") || line.strip().equalsIgnoreCase("exit")) {
                break;
            }
            if (line.isBlank()) {
                continue;
            }
            try {
                out.print(commands.execute(line));
            } catch (IllegalArgumentException | IllegalStateException e) {
                out.println("error: " + e.getMessage());
            }
        }
        out.println();
    }

    private void command(String line) {
        out.println("> " + line);
        out.println(commands.execute(line));
    }

    /** Throughput and latency of one phase of the workload. */
    private record Phase(String name, double seconds, long ops, Histogram h) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%-13s %9.3f %12.0f %10.1f %10.1f %10.1f", name, seconds,
                    ops / Math.max(seconds, 1e-9), h.getValueAtPercentile(50) / 1e3,
                    h.getValueAtPercentile(99) / 1e3, h.getMaxValue() / 1e3);
        }
    }

    private Phase phase(String name, long t0, long ops0) {
        return new Phase(name, (System.nanoTime() - t0) / 1e9, ops.get() - ops0, latency.getIntervalHistogram());
    }

    // ------------------------------------------------------------------------------------------------ workload

    /** The expected long at {@code offset} of long-lived buffer {@code i}. */
    private static long pattern(int i, long offset) {
        long x = (i * 0x9E3779B97F4A7C15L) ^ (offset * 0xC2B2AE3D27D4EB4FL);
        return x ^ (x >>> 29);
    }

    private void fillLongLived() {
        long size = (long) o.longLivedKiB() << 10;
        for (int i = 0; i < longLived.length; i++) {
            long h = a.allocate(size, AllocFlags.HOTREMOVABLE, 1);
            try (Pin p = a.pin(h)) {
                MemorySegment s = p.segment();
                for (long off = 0; off < size; off += 8) {
                    s.set(ValueLayout.JAVA_LONG_UNALIGNED, off, pattern(i, off));
                }
            }
            longLived[i] = h;
        }
    }

    /** @return how many long-lived buffers differ from their pattern */
    private int verifyLongLived() {
        long size = (long) o.longLivedKiB() << 10;
        int bad = 0;
        for (int i = 0; i < longLived.length; i++) {
            try (Pin p = a.pin(longLived[i])) {
                MemorySegment s = p.segment();
                for (long off = 0; off < size; off += 8) {
                    if (s.get(ValueLayout.JAVA_LONG_UNALIGNED, off) != pattern(i, off)) {
                        bad++;
                        break;
                    }
                }
            }
        }
        return bad;
    }

    private void work(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long llSize = (long) o.longLivedKiB() << 10;
        try {
            while (!stop.get()) {
                long start = System.nanoTime();
                if (r.nextInt(4) == 0) {
                    // Read a few words of a long-lived buffer and check them.
                    int i = r.nextInt(longLived.length);
                    for (int k = 0; k < 4; k++) {
                        long off = 8L * r.nextLong(llSize / 8);
                        long v = a.getLong(longLived[i], off);
                        if (v != pattern(i, off)) {
                            throw new IllegalStateException("long-lived buffer " + i + " differs at " + off);
                        }
                    }
                } else {
                    long size = 4096L << r.nextInt(5);
                    long h = a.allocate(size, AllocFlags.HOTREMOVABLE, 1 + r.nextInt(2));
                    long tag = r.nextLong();
                    for (long off = 0; off < size; off += 512) {
                        a.setLong(h, off, tag ^ off);
                    }
                    for (long off = 0; off < size; off += 512) {
                        if (a.getLong(h, off) != (tag ^ off)) {
                            throw new IllegalStateException("short-lived buffer differs at " + off);
                        }
                    }
                    a.free(h);
                }
                latency.recordValue(System.nanoTime() - start);
                ops.incrementAndGet();
            }
        } catch (Throwable t) {
            workloadFailure.compareAndSet(null, t);
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** @return the process's resident set size in bytes, or -1 where /proc/self/status does not exist */
    static long rssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }

    private static void sleep(double seconds) {
        try {
            Thread.sleep((long) (seconds * 1000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
