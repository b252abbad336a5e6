package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.LeakDetection;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.ZoneType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cache registry and the reclaim handshake, white-box: one plugged, open zone; caches of real threads;
 * reclaims from another thread. Not a benchmark.
 */
class CacheRegistryTest {
    private static final int SHIFT = 12;
    private static final int PAGES = 1024;

    private AllocatorContext ctx;
    private Zone zone;
    private Topology topology;
    private CacheRegistry registry;

    @BeforeEach
    void setUp() {
        ctx = new AllocatorContext("registry-test", 1 << SHIFT, 4, MemoryBacking.ARENA, (long) PAGES << SHIFT,
                LeakDetection.DISABLED, Double.POSITIVE_INFINITY);
        Node node = new Node(0, NodeSpec.fixed((long) PAGES << SHIFT), 0, new Zone[1]);
        zone = new Zone(0, ZoneType.NORMAL, node, 0, PAGES, SHIFT, 4, ctx.ticker, Double.POSITIVE_INFINITY);
        node.zones[0] = zone;
        zone.lock.lock();
        try {
            zone.plugLocked(ctx.memory.asSlice(0, (long) PAGES << SHIFT), ctx.range);
            zone.setOpenLocked(true);
        } finally {
            zone.lock.unlock();
        }
        node.state = NodeState.ENABLED;
        topology = new Topology(new Node[] {node}, new Zone[] {zone});
        registry = new CacheRegistry(ctx, 5, () -> topology.zones);
    }

    @AfterEach
    void tearDown() {
        ctx.range.close(false);
        ctx.table.releaseTag();
    }

    private long allocate(ThreadCache tc, int order) {
        return tc.allocate(topology.zonelists, 0, AllocFlags.NONE, order, (long) 1 << (order + SHIFT));
    }

    /** Frees {@code h} the way {@link Allocation#free} does, through {@code tc}. */
    private void free(ThreadCache tc, long h, int order) {
        long[] c = ctx.table.chunk(h);
        int base = HandleLayout.base(h);
        HandleProtocol.free(c, base, h);
        int slot = HandleLayout.slotOf(h);
        if (!tc.free(zone, order, slot)) {
            zone.free((int) HandleLayout.pageOfLocation(HandleTable.lpLocation(c, base)));
            ctx.table.releaseSlot(slot);
        }
    }

    private void checkZone(long expectedActivePages) {
        zone.lock.lock();
        try {
            zone.checkLocked();
            assertEquals(expectedActivePages, zone.snapshotLocked(0).activePages());
        } finally {
            zone.lock.unlock();
        }
    }

    /**
     * Two threads whose ids take the same place in the index: the first to register holds the place, the second
     * finds its own cache through the ThreadLocal, never the other's (the fast paths test the owner of what they find
     * at the place, {@link CacheRegistry#indexed}). An empty place holds {@link ThreadCache#NONE}, owned by no thread.
     */
    @Test
    void threadsSharingAPlaceInTheIndexEachGetTheirOwnCache() throws Exception {
        assertNull(registry.indexed(Thread.currentThread()).owner, "an empty place holds NONE");
        assertTrue(registry.indexed(Thread.currentThread()) == ThreadCache.NONE);
        java.util.concurrent.CountDownLatch registered = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        ThreadCache[] seen = new ThreadCache[4];
        Thread first = new Thread(() -> {
            seen[0] = registry.cache();
            registered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            seen[1] = registry.cache();
        }, "first");
        // The index has 64 places while fewer than 32 caches are registered: a thread whose id is the first's plus
        // a multiple of 64 takes the same place.
        Thread second = null;
        for (int i = 0; i < 1_000 && second == null; i++) {
            Thread t = new Thread(() -> {
                seen[2] = registry.cache();
                seen[3] = registry.cache();
            }, "second");
            if (((t.threadId() - first.threadId()) & 63) == 0) {
                second = t;
            }
        }
        assertTrue(second != null, "no thread id shares the first's place");
        first.start();
        assertTrue(registered.await(5, TimeUnit.SECONDS));
        second.start();
        second.join(5_000);
        release.countDown();
        first.join(5_000);
        assertTrue(seen[0] != null && seen[0].owner == first, "the first thread's own cache");
        assertTrue(seen[1] == seen[0], "the same cache every time");
        assertTrue(seen[2] != null && seen[2].owner == second, "the second thread's own cache, not the first's");
        assertTrue(seen[3] == seen[2], "the same cache every time");
        assertTrue(registry.indexed(second).owner == first, "the place is the first's");
    }

    @Test
    void aReclaimGivesEveryCachedBlockBackToTheZone() {
        ThreadCache tc = registry.cache();
        long h = allocate(tc, 0);
        assertNotEquals(0, h);
        free(tc, h, 0);
        long cached = registry.cachedPages(zone.id);
        assertTrue(cached > 0, "the refill batch and the freed block stay cached");
        checkZone(cached); // cached blocks are out of the buddy
        assertEquals(cached, registry.reclaimAll());
        assertEquals(0, registry.cachedPages(zone.id));
        checkZone(0);
    }

    @Test
    void aDeadThreadsCacheIsReclaimedAndForgotten() throws Exception {
        CompletableFuture.runAsync(() -> {
            ThreadCache tc = registry.cache();
            free(tc, allocate(tc, 1), 1);
        }, r -> {
            Thread t = new Thread(r);
            t.start();
        }).get(5, TimeUnit.SECONDS);
        // The thread has returned from its task; wait until it has ended.
        for (int i = 0; i < 500 && registry.reclaimDead() == 0; i++) {
            Thread.sleep(10);
        }
        assertEquals(0, registry.cachedPages(zone.id));
        checkZone(0);
    }

    @Test
    void aDetachedCacheServesNothingAndANewThreadGetsNone() throws Exception {
        ThreadCache tc = registry.cache();
        long h = allocate(tc, 0);
        registry.detachAll();
        assertEquals(0, registry.cachedPages(zone.id), "detach reclaims");
        assertEquals(0, allocate(tc, 0), "the owner bails from every operation");
        long[] c = ctx.table.chunk(h);
        HandleProtocol.free(c, HandleLayout.base(h), h);
        assertFalse(tc.free(zone, 0, HandleLayout.slotOf(h)), "a free is not cached either");
        zone.free((int) HandleLayout.pageOfLocation(HandleTable.lpLocation(c, HandleLayout.base(h))));
        checkZone(0);
        assertNull(CompletableFuture.supplyAsync(registry::cache, r -> new Thread(r).start()).get(5,
                TimeUnit.SECONDS), "no cache registers after detach");
    }

    /**
     * The handshake under load: an owner allocates, writes its slot number into each block and frees through its
     * cache without pause while this thread reclaims over and over. A block handed out twice, or reclaimed while
     * the owner uses it, shows as a wrong value or a broken zone. Fixed seed.
     */
    @Test
    void reclaimsRacingAnOwnerNeverShareABlock() throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong done = new AtomicLong();
        CompletableFuture<Long> owner = CompletableFuture.supplyAsync(() -> {
            ThreadCache tc = registry.cache();
            SplittableRandom rnd = new SplittableRandom(42);
            long[] live = new long[32];
            int[] orders = new int[32];
            long ops = 0;
            while (!stop.get()) {
                int i = rnd.nextInt(live.length);
                if (live[i] == 0) {
                    int order = rnd.nextInt(3);
                    long h = allocate(tc, order);
                    if (h == 0) {
                        continue; // a reclaimer was at work: the caller would take the slow path
                    }
                    long loc = HandleTable.lpLocation(ctx.table.chunk(h), HandleLayout.base(h));
                    zone.memory.set(java.lang.foreign.ValueLayout.JAVA_LONG,
                            zone.byteOffset(HandleLayout.pageOfLocation(loc)), h);
                    live[i] = h;
                    orders[i] = order;
                } else {
                    long h = live[i];
                    long loc = HandleTable.lpLocation(ctx.table.chunk(h), HandleLayout.base(h));
                    long seen = zone.memory.get(java.lang.foreign.ValueLayout.JAVA_LONG,
                            zone.byteOffset(HandleLayout.pageOfLocation(loc)));
                    if (seen != h) {
                        throw new AssertionError("block of handle 0x" + Long.toHexString(h) + " holds 0x"
                                + Long.toHexString(seen) + ": shared");
                    }
                    free(tc, h, orders[i]);
                    live[i] = 0;
                }
                done.lazySet(++ops);
            }
            for (int i = 0; i < live.length; i++) {
                if (live[i] != 0) {
                    free(tc, live[i], orders[i]);
                }
            }
            return ops;
        }, r -> new Thread(r, "cache-owner").start());
        // At least 2,000 reclaims overlapping at least 100,000 owner operations (or 20 s, whichever comes first).
        long reclaimed = 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        for (int i = 0; (i < 2_000 || done.get() < 100_000) && !owner.isDone() && System.nanoTime() < deadline; ) {
            if (done.get() > 0) {
                reclaimed += registry.reclaimAll();
                i++;
            } else {
                Thread.onSpinWait();
            }
        }
        stop.set(true);
        long ops = owner.get(30, TimeUnit.SECONDS);
        assertTrue(ops > 0 && reclaimed > 0, "ops " + ops + ", reclaimed " + reclaimed);
        registry.reclaimAll();
        checkZone(0);
    }
}
