package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.FailureReason;
import io.hotmem.HotplugListener;
import io.hotmem.LeakDetection;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationProgress;
import io.hotmem.RelocationReport;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Level;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Torture, not a benchmark. Worker threads allocate, write checksummed data, verify, pin for random times and free,
 * while two operator threads issue conflicting disable / enable / drain / offline / unplug / plug / remap /
 * compact commands over the hot-removable nodes, and faults are injected at random: listeners that veto or throw, pins held past a
 * drain's deadline, memory exhausted mid-drain, interrupts during drains, allocations failing for lack of memory.
 * Asserts no checksum mismatch, no lost allocation, no unexpected exception type, the invariants at every snapshot,
 * and all memory free at the end; prints a summary line.
 *
 * <p>{@code -Dhotmem.torture.seconds} (default 15; 600 for a soak) and {@code -Dhotmem.torture.seed}.
 */
class TortureTest {
    private static final long SECONDS = Long.getLong("hotmem.torture.seconds", 15);
    private static final long SEED = Long.getLong("hotmem.torture.seed", 20261126);
    private static final int WORKERS = 3;
    private static final int[] HOT_NODES = {1, 2, 3};

    enum Fault { VETO, LISTENER_THROW, LONG_PIN, MEMORY_HOG, INTERRUPT, CONFLICTING_COMMAND, ALLOCATION_FAILED }

    private final AtomicBoolean stop = new AtomicBoolean();
    private final ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    private final Map<Fault, LongAdder> faults = new EnumMap<>(Fault.class);
    private final LongAdder operations = new LongAdder();
    private final LongAdder moves = new LongAdder();
    private final LongAdder bytesMoved = new LongAdder();
    private final AtomicBoolean veto = new AtomicBoolean();
    private final AtomicBoolean listenersThrow = new AtomicBoolean();
    private final List<Thread> operators = new ArrayList<>();
    private final Map<Long, Thread> commandRunning = new ConcurrentHashMap<>();

    {
        for (Fault f : Fault.values()) {
            faults.put(f, new LongAdder());
        }
    }

    /** An allocation a worker owns: its contents are {@link #word(long, long)} of its seed at every offset. */
    record Owned(long handle, long size, long seed) {
    }

    static long word(long seed, long offset) {
        long x = seed ^ (offset * 0x9E3779B97F4A7C15L);
        x ^= x >>> 31;
        return x * 0xBF58476D1CE4E5B9L;
    }

    /**
     * At SAMPLED (the default) and at PARANOID, where every pin's segment is scoped by its pin and every use of one
     * is checked: correct use must never meet a closed scope, and nothing is reported as leaked.
     */
    @ParameterizedTest
    @EnumSource(value = LeakDetection.class, names = {"SAMPLED", "PARANOID"})
    void tortureWithFaults(LeakDetection level) throws Exception {
        Logger log = Logger.getLogger("io.hotmem");
        Level saved = log.getLevel();
        log.setLevel(Level.OFF); // injected listener failures would print a stack trace each
        // At SAMPLED every free beyond a zone's 4 MiB of resident free memory returns its block at once, so that
        // the purge on free runs under the moves, unplugs and faults too.
        try (PageAllocator a = PageAllocator.builder().name("torture").maxOrder(6).leakDetection(level)
                .residentFreeLimit(level == LeakDetection.SAMPLED ? 0.0 : Double.POSITIVE_INFINITY)
                .node(NodeSpec.fixed(16L << 20).movableBytes(4L << 20))
                .node(NodeSpec.hotRemovable(16L << 20))
                .node(NodeSpec.hotRemovable(16L << 20))
                .node(NodeSpec.hotRemovable(16L << 20))
                .build()) {
            a.addListener(new FaultyListener());
            List<Thread> threads = new ArrayList<>();
            List<List<Owned>> owned = new ArrayList<>();
            for (int w = 0; w < WORKERS; w++) {
                List<Owned> mine = new ArrayList<>();
                owned.add(mine);
                long seed = SEED + w;
                threads.add(start("worker-" + w, () -> worker(a, new SplittableRandom(seed), mine)));
            }
            for (int o = 0; o < 2; o++) {
                long seed = SEED + 100 + o;
                Thread t = start("operator-" + o, () -> operator(a, new SplittableRandom(seed)));
                operators.add(t);
                threads.add(t);
            }
            threads.add(start("faults", () -> injector(a, new SplittableRandom(SEED + 200))));
            threads.add(start("checker", () -> checker(a)));

            long end = System.nanoTime() + SECONDS * 1_000_000_000L;
            while (System.nanoTime() < end && failures.isEmpty()) {
                Thread.sleep(20);
            }
            stop.set(true);
            for (Thread t : threads) {
                t.join(120_000);
                assertTrue(!t.isAlive(), t.getName() + " did not stop");
            }
            assertTrue(failures.isEmpty(), () -> "failures: " + describe(failures));

            // Bring every node back, then every allocation must be intact, and freeing them all frees everything.
            for (int n : HOT_NODES) {
                NodeState s = a.status().node(n).state();
                if (s == NodeState.UNPLUGGED) {
                    a.plug(n);
                }
                if (a.status().node(n).state() == NodeState.DISABLED) {
                    a.enable(n);
                }
            }
            long live = 0;
            for (List<Owned> mine : owned) {
                for (Owned x : mine) {
                    verify(a, x);
                    a.free(x.handle());
                    live++;
                }
            }
            a.checkInvariants();
            for (var n : a.status().nodes()) {
                for (ZoneStatus z : n.zones()) {
                    assertEquals(0, z.activePages(), "all memory free at the end: " + z);
                }
            }
            for (int i = 0; i < 3; i++) {
                System.gc(); // every pin was closed: none may be reported as leaked
                Thread.sleep(20);
            }
            assertTrue(a.leaks().leakedPins().isEmpty(), a.leaks().render());
            assertTrue(a.leaks().liveAllocations().isEmpty(), a.leaks().render());
            StringBuilder sb = new StringBuilder("[torture] level=" + level + " seconds=" + SECONDS + " seed=" + SEED + " operations="
                    + operations.sum() + " moves=" + moves.sum() + " bytesMoved=" + bytesMoved.sum()
                    + " liveAtEnd=" + live + " faults:");
            faults.forEach((f, n) -> sb.append(' ').append(f.name().toLowerCase()).append('=').append(n.sum()));
            sb.append(" failures=").append(failures.size());
            System.out.println(sb);
            for (Fault f : new Fault[]{Fault.VETO, Fault.LONG_PIN, Fault.MEMORY_HOG, Fault.INTERRUPT,
                    Fault.CONFLICTING_COMMAND}) {
                assertTrue(faults.get(f).sum() > 0, "fault " + f + " was never injected");
            }
            assertTrue(moves.sum() > 0, "nothing moved");
        } finally {
            log.setLevel(saved);
        }
    }

    private Thread start(String name, Runnable body) {
        return Thread.ofPlatform().name(name).start(() -> {
            try {
                body.run();
            } catch (Throwable t) {
                failures.add(new AssertionError(name + " failed", t));
                stop.set(true);
            }
        });
    }

    private static String describe(ConcurrentLinkedQueue<Throwable> failures) {
        var sw = new java.io.StringWriter();
        failures.forEach(t -> t.printStackTrace(new java.io.PrintWriter(sw)));
        return sw.toString();
    }

    // ------------------------------------------------------------------------------------------------ workers

    private void worker(PageAllocator a, SplittableRandom r, List<Owned> mine) {
        while (!stop.get()) {
            operations.increment();
            int action = r.nextInt(10);
            if (mine.isEmpty() || (action < 3 && mine.size() < 48)) {
                long size = 16 + r.nextInt(r.nextBoolean() ? 4096 : 160_000);
                int flags = r.nextInt(8) == 0 ? AllocFlags.NONE : AllocFlags.HOTREMOVABLE;
                if (r.nextInt(6) == 0) {
                    flags |= AllocFlags.THISNODE;
                }
                if (r.nextInt(4) == 0) {
                    flags |= AllocFlags.ALIGNED; // whole power-of-two blocks beside exact runs
                }
                long h = a.tryAllocate(size, flags, r.nextInt(4));
                if (h == PageAllocator.NULL_HANDLE) {
                    faults.get(Fault.ALLOCATION_FAILED).increment();
                    continue;
                }
                Owned x = new Owned(h, size, r.nextLong());
                write(a, x, r.nextBoolean());
                mine.add(x);
                continue;
            }
            int i = r.nextInt(mine.size());
            Owned x = mine.get(i);
            switch (action) {
                case 3, 4 -> verify(a, x);
                case 5 -> {
                    Owned y = new Owned(x.handle(), x.size(), r.nextLong());
                    write(a, y, r.nextBoolean());
                    mine.set(i, y);
                }
                case 6 -> {
                    try (Pin p = a.pin(x.handle())) {
                        checkSegment(x, p.segment());
                        if (r.nextInt(4) == 0) {
                            sleepMillis(r.nextInt(3));
                        } else {
                            Thread.yield();
                        }
                        checkSegment(x, p.segment());
                    }
                }
                default -> {
                    verify(a, x);
                    a.free(x.handle());
                    mine.set(i, mine.getLast());
                    mine.removeLast();
                }
            }
        }
    }

    private static void write(PageAllocator a, Owned x, boolean pinned) {
        if (pinned) {
            try (Pin p = a.pin(x.handle())) {
                MemorySegment s = p.segment();
                for (long off = 0; off + 8 <= x.size(); off += 8) {
                    s.set(ValueLayout.JAVA_LONG_UNALIGNED, off, word(x.seed(), off));
                }
            }
        } else {
            for (long off = 0; off + 8 <= x.size(); off += 8) {
                a.setLong(x.handle(), off, word(x.seed(), off));
            }
        }
    }

    private static void verify(PageAllocator a, Owned x) {
        assertEquals(x.size(), a.sizeOf(x.handle()));
        MemorySegment copy = MemorySegment.ofArray(new byte[(int) x.size()]);
        a.copyTo(x.handle(), 0, copy, 0, x.size());
        checkSegment(x, copy);
        long off = (x.size() / 2) & ~7L;
        if (off + 8 <= x.size() && a.getLong(x.handle(), off) != word(x.seed(), off)) {
            throw new AssertionError("checksum mismatch (getLong) in 0x" + Long.toHexString(x.handle()));
        }
    }

    private static void checkSegment(Owned x, MemorySegment s) {
        for (long off = 0; off + 8 <= x.size(); off += 8) {
            if (s.get(ValueLayout.JAVA_LONG_UNALIGNED, off) != word(x.seed(), off)) {
                throw new AssertionError("checksum mismatch in 0x" + Long.toHexString(x.handle()) + " at " + off);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ operators

    private void operator(PageAllocator a, SplittableRandom r) {
        while (!stop.get()) {
            int node = HOT_NODES[r.nextInt(HOT_NODES.length)];
            Duration deadline = Duration.ofMillis(r.nextInt(60));
            long me = Thread.currentThread().threadId();
            if (commandRunning.values().stream().anyMatch(t -> t != Thread.currentThread())) {
                faults.get(Fault.CONFLICTING_COMMAND).increment();
            }
            commandRunning.put(me, Thread.currentThread());
            try {
                RelocationReport rep = switch (r.nextInt(9)) {
                    case 0 -> {
                        a.disable(node);
                        yield null;
                    }
                    case 1 -> {
                        a.enable(node);
                        yield null;
                    }
                    case 2 -> a.drain(node, deadline);
                    case 3 -> a.offline(node, deadline);
                    case 4 -> {
                        a.unplug(node);
                        yield null;
                    }
                    case 5 -> {
                        a.plug(node);
                        yield null;
                    }
                    case 6 -> a.remap(r.nextInt(a.status().nodes().size() + 1), deadline);
                    case 7 -> a.compact(r.nextInt(a.status().nodes().size() + 1), deadline);
                    default -> {
                        sleepMillis(r.nextInt(3));
                        yield null;
                    }
                };
                if (rep != null) {
                    checkReport(rep);
                    moves.add(rep.moved());
                    bytesMoved.add(rep.movedBytes());
                }
            } catch (IllegalStateException e) {
                // A refused transition (wrong state, live allocations, unplugged zone): expected under conflict.
                if (e.getMessage() == null || !e.getMessage().matches("(?s).*(node|zone) \\d+.*")) {
                    throw new AssertionError("refusal without the node or zone in its message", e);
                }
            } finally {
                commandRunning.remove(me);
                Thread.interrupted(); // an injected interrupt that arrived outside a drain
            }
            operations.increment();
        }
    }

    private static void checkReport(RelocationReport rep) {
        if (rep.complete() != (rep.remaining() == 0) && !rep.failures().containsKey(FailureReason.VETOED)) {
            throw new AssertionError("complete and remaining disagree: " + rep);
        }
        if (!rep.complete() && rep.failures().isEmpty()) {
            throw new AssertionError("incomplete without a reason: " + rep);
        }
        if (rep.moved() < 0 || rep.movedBytes() < rep.moved() * 4096) {
            throw new AssertionError("bad counts: " + rep);
        }
    }

    // ------------------------------------------------------------------------------------------------ faults

    private void injector(PageAllocator a, SplittableRandom r) {
        List<Long> hog = new ArrayList<>();
        while (!stop.get()) {
            sleepMillis(1 + r.nextInt(20));
            switch (r.nextInt(6)) {
                case 0 -> veto.set(r.nextInt(3) == 0);
                case 1 -> listenersThrow.set(r.nextBoolean());
                case 2 -> {
                    // A pin held well past a drain's deadline, on an allocation of the injector's own.
                    long h = a.tryAllocate(4096, AllocFlags.HOTREMOVABLE, HOT_NODES[r.nextInt(HOT_NODES.length)]);
                    if (h != PageAllocator.NULL_HANDLE) {
                        a.setLong(h, 0, h);
                        try (Pin p = a.pin(h)) {
                            faults.get(Fault.LONG_PIN).increment();
                            sleepMillis(60 + r.nextInt(100));
                            if (p.getLong(0) != h) {
                                throw new AssertionError("long-pinned block changed");
                            }
                        }
                        a.free(h);
                    }
                }
                case 3 -> {
                    // Exhaust memory for a while: drains in that window meet NO_MEMORY.
                    faults.get(Fault.MEMORY_HOG).increment();
                    while (true) {
                        long h = a.tryAllocate(256 * 1024, AllocFlags.HOTREMOVABLE, r.nextInt(4));
                        if (h == PageAllocator.NULL_HANDLE) {
                            break;
                        }
                        hog.add(h);
                    }
                    sleepMillis(5 + r.nextInt(30));
                    hog.forEach(a::free);
                    hog.clear();
                }
                default -> {
                    Thread op = operators.get(r.nextInt(operators.size()));
                    if (commandRunning.containsValue(op)) {
                        faults.get(Fault.INTERRUPT).increment();
                        op.interrupt();
                    }
                }
            }
        }
        hog.forEach(a::free);
    }

    /** Vetoes offlines when told to; throws from its other callbacks when told to (hotmem must shrug). */
    private final class FaultyListener implements HotplugListener {
        @Override
        public void onGoingOffline(int node) {
            if (veto.get()) {
                faults.get(Fault.VETO).increment();
                throw new IllegalStateException("veto: node " + node + " is busy");
            }
        }

        @Override
        public void onCancelOffline(int node) {
            maybeThrow("onCancelOffline");
        }

        @Override
        public void onOffline(int node) {
            maybeThrow("onOffline");
        }

        @Override
        public void onOnline(int node) {
            maybeThrow("onOnline");
        }

        @Override
        public void onProgress(RelocationProgress progress) {
            maybeThrow("onProgress");
        }

        private void maybeThrow(String where) {
            if (listenersThrow.get()) {
                faults.get(Fault.LISTENER_THROW).increment();
                throw new RuntimeException("injected failure in " + where);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ checker

    private void checker(PageAllocator a) {
        while (!stop.get()) {
            Snapshots.check(a);
            sleepMillis(2);
        }
    }

    private static void sleepMillis(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

}
