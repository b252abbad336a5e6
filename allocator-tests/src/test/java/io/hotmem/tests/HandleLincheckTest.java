package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import org.jetbrains.lincheck.datastructures.ModelCheckingOptions;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Param;
import org.jetbrains.lincheck.datastructures.StressOptions;
import org.jetbrains.lincheck.datastructures.IntGen;
import org.jetbrains.lincheck.datastructures.LongGen;
import org.junit.jupiter.api.Test;

import java.lang.ref.Cleaner;
import java.time.Duration;

/**
 * Lincheck: {@code getLong} and {@code setLong} on two movable allocations are linearizable (against the
 * sequential spec "a read returns the last write") while {@code remap} moves their blocks between two zones.
 * Model checking explores interleavings at every state-word access, lock and location read; stress testing runs
 * the same scenarios on real threads.
 *
 * <p>Each test instance (Lincheck builds one per invocation) has its own tiny allocator: two hot-removable nodes of
 * three pages, arena-backed, closed by a {@link Cleaner} once Lincheck drops the instance. (A static allocator does
 * not work: model checking restores static state between invocations, but not off-heap memory.)
 */
@Param(name = "value", gen = LongGen.class, conf = "1:3")
@Param(name = "zone", gen = IntGen.class, conf = "0:1")
public class HandleLincheckTest {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final java.util.ArrayDeque<PageAllocator> RECENT = new java.util.ArrayDeque<>();
    private static final java.util.concurrent.ExecutorService CLOSER =
            java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "lincheck-allocator-closer");
                t.setDaemon(true);
                return t;
            });
    /** Scenarios per strategy; raise with {@code -Dhotmem.lincheck.iterations} for a deeper search. */
    private static final int ITERATIONS = Integer.getInteger("hotmem.lincheck.iterations", 10);

    static {
        // An incomplete remap (a block pinned by a concurrent set) logs a warning; instrumented logging is slow.
        java.util.logging.Logger.getLogger("io.hotmem").setLevel(java.util.logging.Level.OFF);
    }

    private final PageAllocator a;
    private final long h0;
    private final long h1;

    public HandleLincheckTest() {
        // No background agent: a thread that Lincheck does not schedule, stealing from the caches of the threads it
        // does (one per allocator, each waking every second), makes executions impossible to replay.
        PageAllocator allocator = PageAllocator.builder().name("lincheck").maxOrder(0)
                .backing(MemoryBacking.ARENA)
                .backgroundThread(false)
                .node(NodeSpec.hotRemovable(3 * 4096))
                .node(NodeSpec.hotRemovable(3 * 4096))
                .build();
        a = allocator;
        h0 = a.allocate(16, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO, 0);
        h1 = a.allocate(16, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO, 0);
        CLEANER.register(this, allocator::close);
        // Lincheck builds an instance per invocation and drops it: at most 4,095 allocators may be open at once,
        // and the Cleaner runs only after a GC, so the allocator built 64 instances ago is closed now (on a thread
        // of its own, outside the scenario), long after its invocation ended.
        synchronized (RECENT) {
            RECENT.add(allocator);
            if (RECENT.size() > 64) {
                CLOSER.execute(RECENT.poll()::close);
            }
        }
    }

    @Operation
    public long get0() {
        return a.getLong(h0, 8);
    }

    @Operation
    public long get1() {
        return a.getLong(h1, 8);
    }

    @Operation
    public void set0(@Param(name = "value") long v) {
        a.setLong(h0, 8, v);
    }

    @Operation
    public void set1(@Param(name = "value") long v) {
        a.setLong(h1, 8, v);
    }

    /** Reuses free blocks (old copies included) for another allocation with a value no setter writes. */
    @Operation
    public void churn() {
        long h = a.tryAllocate(16, AllocFlags.HOTREMOVABLE, 0);
        if (h != PageAllocator.NULL_HANDLE) {
            a.setLong(h, 8, 99);
            a.free(h);
        }
    }

    @Operation
    public void remap(@Param(name = "zone") int zone) {
        a.remap(zone, Duration.ZERO);
    }

    @Test
    void modelChecking() {
        // The loop bound covers the thread cache's batch refills (64 handle slots at a time), which are bounded
        // loops, not spins.
        new ModelCheckingOptions().iterations(ITERATIONS).invocationsPerIteration(100).loopBound(200)
                .check(HandleLincheckTest.class);
    }

    @Test
    void stress() {
        new StressOptions().iterations(ITERATIONS).invocationsPerIteration(300).check(HandleLincheckTest.class);
    }
}
