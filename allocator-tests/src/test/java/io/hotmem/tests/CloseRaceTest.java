package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.AllocationFailedException;
import io.hotmem.HotplugListener;
import io.hotmem.LeakDetection;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationProgress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Calls racing {@link PageAllocator#close()}: each either works (it ran before the close) or throws
 * {@link IllegalStateException} (a {@link io.hotmem.StaleHandleException} included); allocations may also throw
 * {@link AllocationFailedException}. Never an {@link IndexOutOfBoundsException}, an
 * {@link IllegalArgumentException} such as "unknown node 0 (nodes 0..-1)", a {@link NullPointerException}, or an
 * {@link Error}.
 *
 * <p>Each round builds an allocator, gives each of three workers a few live allocations and a call to make in a loop
 * (different ones each round, every call in turn), and closes the allocator from the test thread once all
 * workers are calling. They keep calling for a few more times after close() returned. The windows are small (a
 * call that checked "open" just before close() flipped it, a zeroing or copy whose zone was unplugged meanwhile),
 * so each round hits one only now and then: 160 to 200 rounds saw 5 to 12 bad exceptions on the code before the
 * fix (commit ace2132).
 *
 * <p>Also: close() while a long drain waits for a pinned block returns promptly, and so does the drain.
 */
class CloseRaceTest {
    private static final int ROUNDS = 200;
    /** Fewer rounds on a slow machine: it stops after this long, once it ran {@link #MIN_ROUNDS}. */
    private static final int MAX_SECONDS = 5;
    private static final int MIN_ROUNDS = 50;
    private static final int WORKERS = 3;
    /** Operations each worker makes after it saw that close() returned. */
    private static final int AFTER_CLOSE = 16;

    private static ExecutorService pool;

    @BeforeAll
    static void startPool() {
        AtomicInteger n = new AtomicInteger();
        pool = Executors.newFixedThreadPool(WORKERS, r -> {
            Thread t = new Thread(r, "close-race-" + n.incrementAndGet());
            t.setDaemon(true); // a worker stuck in the allocator must not keep the JVM alive
            return t;
        });
    }

    @AfterAll
    static void stopPool() {
        pool.shutdownNow();
    }

    /** What a worker calls, by name (for the failure message). */
    private enum Op {
        ALLOCATE, ALLOCATE_ZERO, ALLOCATE_MOVABLE_ZERO, ALLOCATE_ON_NODE, TRY_ALLOCATE_ON_NODE,
        TRY_ALLOCATE_THISNODE, FREE, GET_LONG, SET_LONG, GET_BYTE, SIZE_NODE_ZONE, PIN, PIN_LONG_TERM, COPY_FROM,
        COPY_TO, SEGMENT, STATUS, NODE_COUNT, CHECK_INVARIANTS, DISABLE_DRAIN_ENABLE, REMAP, COMPACT, TRIM_CACHES,
        LEAKS, MIXED
    }

    private static final Op[] OPS = Op.values();

    /**
     * In round {@code r}, worker {@code w} calls {@code OPS[(r * WORKERS + w) % OPS.length]} in a loop (MIXED: a
     * random call each time), so that every call is in flight, many times over, while close() runs.
     */
    @Test
    void everyCallRacingCloseWorksOrThrowsIllegalState() throws Exception {
        Map<String, Integer> unexpected = new TreeMap<>();
        AtomicReference<Throwable> example = new AtomicReference<>();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(MAX_SECONDS);
        int rounds = 0;
        while (rounds < ROUNDS && (rounds < MIN_ROUNDS || System.nanoTime() < end)) {
            runRound(rounds++, unexpected, example);
        }
        if (!unexpected.isEmpty()) {
            AssertionError e = new AssertionError("calls racing close() threw what they must not (call: exception "
                    + "= count, over " + rounds + " rounds): " + unexpected);
            e.addSuppressed(example.get());
            throw e;
        }
    }

    private static void runRound(int round, Map<String, Integer> unexpected, AtomicReference<Throwable> example)
            throws Exception {
        // Odd rounds PARANOID: close races segments scoped by pins and allocations, which it must close first.
        PageAllocator a = PageAllocator.builder().name("close-race").pageSize(4096).maxOrder(6)
                .backgroundThread(false).jmx(false)
                .leakDetection(round % 2 == 0 ? LeakDetection.SAMPLED : LeakDetection.PARANOID)
                .node(NodeSpec.fixed(4L << 20).movableBytes(1L << 20)) // node 0: Normal[0], Movable[1]
                .node(NodeSpec.hotRemovable(2L << 20))                 // node 1: Movable[2]
                .build();
        CountDownLatch warm = new CountDownLatch(WORKERS); // counted down by each worker after its first calls
        AtomicBoolean closed = new AtomicBoolean(); // close() returned
        List<Future<?>> futures = new ArrayList<>();
        try {
            List<List<Long>> handles = new ArrayList<>(); // all taken before any worker starts
            for (int w = 0; w < WORKERS; w++) {
                List<Long> mine = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    mine.add(a.allocate(4096 << (i & 1), i < 2 ? AllocFlags.HOTREMOVABLE : AllocFlags.NONE));
                }
                handles.add(mine);
            }
            for (int w = 0; w < WORKERS; w++) {
                List<Long> mine = handles.get(w);
                Op focus = OPS[(round * WORKERS + w) % OPS.length];
                SplittableRandom r = new SplittableRandom(round * 31L + w);
                futures.add(pool.submit(() -> {
                    try (Arena arena = Arena.ofConfined()) {
                        MemorySegment buf = arena.allocate(64);
                        int calls = 0;
                        int afterClose = 0;
                        while (afterClose < AFTER_CLOSE) {
                            if (closed.get()) {
                                afterClose++;
                            }
                            Op op = focus == Op.MIXED ? OPS[r.nextInt(OPS.length - 1)] : focus;
                            try {
                                call(a, op, mine, r, buf);
                            } catch (IllegalStateException | AllocationFailedException expected) {
                                // before the close: an illegal transition; after it: closed (or stale)
                            } catch (Throwable e) {
                                String key = op + ": " + e.getClass().getSimpleName();
                                synchronized (unexpected) {
                                    unexpected.merge(key, 1, Integer::sum);
                                }
                                example.compareAndSet(null, e);
                            }
                            if (++calls == 8) {
                                warm.countDown();
                            }
                        }
                    }
                    return null;
                }));
            }
            assertTrue(warm.await(10, TimeUnit.SECONDS), "round " + round + ": the workers did not start");
            a.close();
            closed.set(true);
            for (Future<?> f : futures) {
                try {
                    f.get(10, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    fail("round " + round + ": a worker did not finish within 10 s of close()");
                }
            }
        } finally {
            a.close();
        }
    }

    private static long pick(List<Long> mine, SplittableRandom r) {
        return mine.isEmpty() ? 0x7FF0_0000_0000_0001L : mine.get(r.nextInt(mine.size()));
    }

    /** One call (allocations are freed at once, so that a worker never runs out of memory). */
    private static void call(PageAllocator a, Op op, List<Long> mine, SplittableRandom r, MemorySegment buf) {
        switch (op) {
            case ALLOCATE -> a.free(a.allocate(4096, AllocFlags.NONE));
            case ALLOCATE_ZERO -> a.free(a.allocate(64 + r.nextInt(16384), AllocFlags.ZERO));
            case ALLOCATE_MOVABLE_ZERO -> a.free(a.allocate(4096, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO));
            case ALLOCATE_ON_NODE -> a.free(a.allocate(8192, AllocFlags.HOTREMOVABLE, r.nextInt(2)));
            case TRY_ALLOCATE_ON_NODE -> {
                long h = a.tryAllocate(4096, r.nextBoolean() ? AllocFlags.ZERO : AllocFlags.NONE, r.nextInt(2));
                if (h != PageAllocator.NULL_HANDLE) {
                    a.free(h);
                }
            }
            case TRY_ALLOCATE_THISNODE -> {
                long h = a.tryAllocate(4096, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 1);
                if (h != PageAllocator.NULL_HANDLE) {
                    a.free(h);
                }
            }
            case FREE -> {
                if (!mine.isEmpty()) {
                    a.free(mine.remove(r.nextInt(mine.size())));
                    mine.add(a.allocate(4096, r.nextBoolean() ? AllocFlags.HOTREMOVABLE : AllocFlags.NONE));
                }
            }
            case GET_LONG -> a.getLong(pick(mine, r), 0);
            case SET_LONG -> a.setLong(pick(mine, r), 8, r.nextLong());
            case GET_BYTE -> a.getByte(pick(mine, r), 1);
            case SIZE_NODE_ZONE -> {
                long h = pick(mine, r);
                a.sizeOf(h);
                a.nodeOf(h);
                a.zoneOf(h);
                a.isMovable(h);
            }
            case PIN -> {
                try (Pin p = a.pin(pick(mine, r))) {
                    p.setLong(0, p.getLong(0) + 1);
                    p.segment().get(ValueLayout.JAVA_BYTE, 0);
                }
            }
            case PIN_LONG_TERM -> {
                long h = a.allocate(4096, AllocFlags.HOTREMOVABLE); // in a MOVABLE zone: pinLongTerm moves it
                try (Pin p = a.pinLongTerm(h)) {
                    p.getLong(0);
                }
                a.free(h);
            }
            case COPY_FROM -> a.copyFrom(buf, 0, pick(mine, r), 0, 64);
            case COPY_TO -> a.copyTo(pick(mine, r), 0, buf, 0, 64);
            case SEGMENT -> {
                long h = pick(mine, r);
                if (!a.isMovable(h)) {
                    a.segment(h).get(ValueLayout.JAVA_BYTE, 0);
                }
            }
            case STATUS -> assertEquals(2, a.status().nodes().size());
            case NODE_COUNT -> assertEquals(2, a.nodeCount());
            case CHECK_INVARIANTS -> a.checkInvariants();
            case DISABLE_DRAIN_ENABLE -> {
                a.disable(1); // another worker's disable makes this one throw: then nothing else to do
                try {
                    a.drain(1, Duration.ZERO);
                } finally {
                    try {
                        a.enable(1);
                    } catch (IllegalStateException notMasking) {
                        // enabled by another worker, or closed: let the drain's own outcome show
                    }
                }
            }
            case REMAP -> a.remap(r.nextInt(3), Duration.ZERO);
            case COMPACT -> a.compact(r.nextInt(3), Duration.ofMillis(2));
            case TRIM_CACHES -> assertTrue(a.trimCaches() >= 0);
            case LEAKS -> a.leaks().render();
            case MIXED -> throw new AssertionError("not a call");
        }
    }

    /**
     * A drain held up by a pinned block, with a long deadline, runs on one thread; close() on another returns
     * promptly, and the drain ends promptly with {@link IllegalStateException} (closed) instead of sitting out its
     * deadline.
     */
    @Test
    void closeDoesNotWaitForALongDrain() throws Exception {
        PageAllocator a = PageAllocator.builder().name("close-drain").pageSize(4096).maxOrder(6)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(8L << 20))
                .node(NodeSpec.hotRemovable(4L << 20))
                .build();
        long h = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
        a.allocate(16384, AllocFlags.HOTREMOVABLE, 1); // moves: the drain makes progress, then waits for the pin
        Pin pin = a.pin(h);
        CountDownLatch firstPass = new CountDownLatch(1);
        a.addListener(new HotplugListener() {
            @Override
            public void onProgress(RelocationProgress progress) {
                firstPass.countDown();
            }
        });
        a.disable(1);
        AtomicReference<Object> drainOutcome = new AtomicReference<>();
        CountDownLatch drainEnded = new CountDownLatch(1);
        Thread drainer = new Thread(() -> {
            try {
                drainOutcome.set(a.drain(1, Duration.ofSeconds(60)));
            } catch (Throwable e) {
                drainOutcome.set(e);
            } finally {
                drainEnded.countDown();
            }
        }, "drainer");
        CountDownLatch closed = new CountDownLatch(1);
        Thread closer = new Thread(() -> {
            a.close();
            closed.countDown();
        }, "closer");
        try {
            drainer.start();
            assertTrue(firstPass.await(10, TimeUnit.SECONDS), "the drain made no pass");
            assertEquals(1, drainEnded.getCount(), () -> "the drain ended although the block is pinned: "
                    + drainOutcome.get());
            long start = System.nanoTime();
            closer.start();
            boolean closedInTime = closed.await(2, TimeUnit.SECONDS);
            long closeMillis = (System.nanoTime() - start) / 1_000_000;
            assertTrue(closedInTime, "close() did not return within 2 s: it waits for the drain (60 s deadline)");
            assertTrue(drainEnded.await(2, TimeUnit.SECONDS), () -> "the drain did not end within 2 s of close() "
                    + "(which took " + closeMillis + " ms)");
            Object outcome = drainOutcome.get();
            assertTrue(outcome instanceof IllegalStateException, () -> "the drain should end with "
                    + "IllegalStateException (closed), not " + outcome);
        } finally {
            pin.close(); // lets a drain that waits for it finish, so that nothing outlives the test
            a.close();
            drainer.join(10_000);
            closer.join(10_000);
        }
    }
}
