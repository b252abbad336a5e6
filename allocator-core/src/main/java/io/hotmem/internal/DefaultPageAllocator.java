package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.AllocationFailedException;
import io.hotmem.FailureReason;
import io.hotmem.HotplugListener;
import io.hotmem.RelocationReport;
import io.hotmem.MemoryBacking;
import io.hotmem.MemoryStatus;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.NodeStatus;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.ZoneStatus;
import io.hotmem.ZoneType;
import io.hotmem.internal.prim.Backing;

import io.hotmem.RelocationProgress;
import io.hotmem.internal.jfr.AllocationFailureEvent;
import io.hotmem.internal.jfr.NodeStateEvent;
import io.hotmem.internal.jfr.RelocationEvent;

import javax.management.InstanceAlreadyExistsException;
import javax.management.JMException;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Map;
import java.util.StringJoiner;
import java.util.concurrent.CopyOnWriteArrayList;
import java.time.Duration;
import java.util.concurrent.locks.ReentrantLock;

import static io.hotmem.internal.HandleTable.MOVING;
import static io.hotmem.internal.HandleTable.PINS_MASK;
import static io.hotmem.internal.HandleTable.VALIDATE_MASK;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * The {@link PageAllocator}: nodes of zones, a buddy allocator per zone, zonelists, and the handle table whose
 * protocol (see {@link HandleTable}) lets movable allocations be read and written while they move.
 *
 * <p>Allocation path: validate; read the zonelist (lock-free); for a small block, take it and a handle slot from
 * the thread's cache of the first zone in the list ({@link ThreadCache}: no zone or table lock); otherwise (or when
 * that cache cannot serve) take a handle slot and try each zone under its lock; publish the handle. When nothing
 * serves, every thread's cache is given back and the zones are tried again (up to three times). Free: CAS the
 * entry to FREE, then the block and slot go to the thread's cache, or to the zone and table. Accessors never lock:
 * reads are optimistic with a pinned fallback, writes pin.
 *
 * <p>Any change that stops a zone from accepting new blocks (disable, drain, remap, close) empties every thread's
 * cache of that zone before it returns (see {@link ThreadCache}). The background agent ({@link Housekeeper})
 * gives back caches of dead and idle threads and returns long-free blocks to the OS.
 */
public final class DefaultPageAllocator implements PageAllocator {
    /** Optimistic attempts before a read falls back to pinning. */
    private static final int OPTIMISTIC_TRIES = 4;
    /** A drain with no preferred target node: replacement blocks go by distance from the drained node. */
    private static final int NO_TARGET = -1;
    private static final System.Logger LOG = System.getLogger("io.hotmem");

    private final String name;
    private final int pageSize;
    private final int pageShift;
    private final int maxOrder;
    private final long maxBlockBytes;
    private final MemoryBacking backingKind;
    /** Orders kept in thread caches: 0 .. cacheOrders - 1 (0: no caches). */
    private final int cacheOrders;
    private final Ticker ticker = new Ticker();
    private final HandleTable table = new HandleTable();
    /** Each platform thread's cache; null for virtual threads and when caches are off. */
    private final ThreadLocal<ThreadCache> threadCaches = ThreadLocal.withInitial(this::newThreadCache);
    /** Every live thread cache; copy-on-write under {@code this}. */
    private volatile ThreadCache[] caches = new ThreadCache[0];
    /**
     * The caches by thread id modulo the length (a power of two): one array load instead of a ThreadLocal lookup.
     * A thread whose place is taken by another's cache finds its own through {@link #threadCaches}. Written under
     * {@code this}; read racily, but a thread uses only the entry whose final {@code owner} is itself.
     */
    private volatile ThreadCache[] cacheIndex = new ThreadCache[64];
    /** Registered caches at which the registry next looks for dead threads' caches. */
    private int nextDeadSweep = 64;
    /** The background agent, or null. */
    private final Housekeeper housekeeper;
    private final Relocator relocator = new Relocator(table);
    private final List<HotplugListener> listeners = new CopyOnWriteArrayList<>();
    /** Serialises node transitions and close. Taken before any zone lock. */
    private final ReentrantLock control = new ReentrantLock();
    /**
     * One thread at a time takes blocks back from thread caches. Lock order: control, then the registry
     * ({@code this}), then this flush lock, then a thread cache (waiting for its owner's operation), then zone locks.
     */
    private final ReentrantLock flushLock = new ReentrantLock();

    /**
     * Each zone's memory by zone id, a zero-length segment while unplugged: one load from a location word to its
     * memory on the access paths. Written by the zones under their locks; read racily and validated like the
     * location itself.
     */
    private final MemorySegment[] memoryByZone = new MemorySegment[1 << (64 - HandleTable.LOC_ZONE_SHIFT)];
    /** Copy-on-write under the control lock. */
    private volatile Node[] nodes = new Node[0];
    /** Indexed by zone id; copy-on-write under the control lock. */
    private volatile Zone[] zones = new Zone[0];
    private volatile Zonelists zonelists = Zonelists.EMPTY;
    private volatile boolean closed;
    /** The registered MXBean's name, or null. */
    private ObjectName mbeanName;

    /**
     * Builds the allocator with every node in its initial state. Called by {@link PageAllocator.Builder}.
     *
     * @param name        the allocator's name
     * @param pageSize    page size (validated by the builder)
     * @param maxOrder    largest block order (validated by the builder)
     * @param backingKind where node memory comes from
     * @param specs       the nodes in id order
     * @param jmx         whether to register the MXBean
     * @param cacheMaxOrder largest order kept in thread caches, -1 for none (validated by the builder)
     * @param purgeAfter  how long a free block stays resident before the agent returns it to the OS
     * @param agent       whether to run the background agent
     */
    public DefaultPageAllocator(String name, int pageSize, int maxOrder, MemoryBacking backingKind,
                                List<NodeSpec> specs, boolean jmx, int cacheMaxOrder, Duration purgeAfter,
                                boolean agent) {
        this.name = name;
        this.cacheOrders = cacheMaxOrder + 1;
        this.pageSize = pageSize;
        this.pageShift = Integer.numberOfTrailingZeros(pageSize);
        this.maxOrder = maxOrder;
        this.maxBlockBytes = (long) pageSize << maxOrder;
        this.backingKind = backingKind;
        Arrays.fill(memoryByZone, Zone.NO_MEMORY);
        for (int i = 0; i < specs.size(); i++) {
            checkSpec(i, specs.get(i));
        }
        try {
            for (NodeSpec spec : specs) {
                addNode(spec);
            }
            mbeanName = jmx ? registerMBean() : null;
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
        housekeeper = agent ? Housekeeper.start(this, ticker, purgeAfter) : null;
    }

    private ObjectName registerMBean() {
        ObjectName on = mbeanName(name);
        try {
            ManagementFactory.getPlatformMBeanServer().registerMBean(new AllocatorMXBeanImpl(this), on);
        } catch (InstanceAlreadyExistsException e) {
            throw new IllegalStateException("an MBean named " + on + " is registered already: give this allocator "
                    + "another name", e);
        } catch (JMException e) {
            throw new IllegalStateException("cannot register MBean " + on + ": " + e, e);
        }
        return on;
    }

    /**
     * @return {@code io.hotmem:type=PageAllocator,name=<name>}; a name with any character outside
     *         {@code [A-Za-z0-9._-]} is quoted, so that it can never add keys or patterns to the object name
     */
    static ObjectName mbeanName(String name) {
        String value = name.matches("[A-Za-z0-9._-]+") ? name : ObjectName.quote(name);
        try {
            return new ObjectName("io.hotmem:type=PageAllocator,name=" + value);
        } catch (MalformedObjectNameException e) {
            throw new IllegalArgumentException("allocator name '" + name + "' cannot name an MBean", e);
        }
    }

    // =========================================================================================== allocation

    @Override
    public long allocate(long bytes, int flags) {
        return allocate(bytes, flags, -1, true);
    }

    @Override
    public long allocate(long bytes, int flags, int preferredNode) {
        checkNodeArg(preferredNode);
        return allocate(bytes, flags, preferredNode, true);
    }

    @Override
    public long tryAllocate(long bytes, int flags, int preferredNode) {
        checkNodeArg(preferredNode);
        return allocate(bytes, flags, preferredNode, false);
    }

    private void checkNodeArg(int node) {
        if (node < 0) {
            throw new IllegalArgumentException("unknown node " + node + " (nodes 0.." + (nodes.length - 1) + ")");
        }
    }

    private long allocate(long bytes, int flags, int preferredNode, boolean orThrow) {
        checkOpen();
        int order = orderFor(bytes);
        checkFlags(flags);
        Zonelists zl = zonelists;
        int preferred = preferredNode < 0 ? zl.defaultNode : preferredNode;
        if (preferred >= zl.nodeCount) {
            throw unknownNode(preferred, zl.nodeCount);
        }
        if (order < cacheOrders && preferred >= 0) {
            ThreadCache tc = cache();
            if (tc != null) {
                long h = tc.allocate(zl, preferred, flags, order, bytes);
                if (h != NULL_HANDLE) {
                    if ((flags & AllocFlags.ZERO) != 0) {
                        zero(h, bytes);
                    }
                    return h;
                }
            }
        }
        return allocateSlow(zl, preferred, bytes, order, flags, preferredNode, orThrow);
    }

    /** Allocation under zone locks: no cache, or the cache could not serve. */
    private long allocateSlow(Zonelists zl, int preferred, long bytes, int order, int flags, int preferredNode,
                              boolean orThrow) {
        Zone[] list = preferred < 0 ? new Zone[0] : zl.get(preferred, flags);
        boolean movable = (flags & AllocFlags.HOTREMOVABLE) != 0;
        long h = allocateFromZones(list, order, bytes, flags, movable);
        for (int retry = 0; retry < 3 && h == NULL_HANDLE && trimCaches() > 0; retry++) {
            // Memory sat in threads' caches (Linux drains its per-CPU lists the same way): try again. Other
            // threads may refill their caches meanwhile, hence a few tries.
            h = allocateFromZones(list, order, bytes, flags, movable);
        }
        if (h == NULL_HANDLE && table.freeSlotsInTable() == 0) {
            return failed(orThrow, bytes, order, flags, preferredNode, list,
                    "the handle table is full (" + HandleTable.MAX_SLOTS + " live allocations)");
        }
        return h != NULL_HANDLE ? h : failed(orThrow, bytes, order, flags, preferredNode, list, null);
    }

    /** Fills a new block's first {@code bytes} with zeros (it is not shared yet, so no pin is needed). */
    private void zero(long handle, long bytes) {
        long loc = HandleTable.lpLocation(table.chunk(handle), HandleTable.base(handle));
        memoryOf(loc).asSlice(offsetOf(loc), bytes).fill((byte) 0);
    }

    /** @return the new handle, or {@link #NULL_HANDLE} when no zone of {@code list} has a block or no slot is free */
    private long allocateFromZones(Zone[] list, int order, long bytes, int flags, boolean movable) {
        int slot = table.acquireSlot();
        if (slot < 0) {
            return NULL_HANDLE;
        }
        for (Zone z : list) {
            int page;
            z.lockForAllocation();
            try {
                page = z.allocateLocked(order, slot, movable);
            } finally {
                z.lock.unlock();
            }
            if (page != Zone.NIL) {
                if ((flags & AllocFlags.ZERO) != 0) {
                    z.memory.asSlice(z.byteOffset(page), bytes).fill((byte) 0);
                }
                return table.publish(slot, HandleTable.location(z.id, page), bytes, flags);
            }
        }
        table.releaseSlot(slot);
        return NULL_HANDLE;
    }

    private long failed(boolean orThrow, long bytes, int order, int flags, int preferredNode, Zone[] tried,
                        String reason) {
        AllocationFailureEvent event = new AllocationFailureEvent();
        if (event.isEnabled()) {
            event.allocator = name;
            event.size = bytes;
            event.flags = AllocFlags.toString(flags);
            event.preferredNode = preferredNode;
            event.reason = reason != null ? reason : tried.length == 0 ? "no zone may serve it" : "no free block";
            event.commit();
        }
        if (!orThrow) {
            return NULL_HANDLE;
        }
        StringBuilder sb = new StringBuilder("cannot allocate ").append(bytes).append(" bytes (order ")
                .append(order).append(", ").append((long) pageSize << order).append("-byte block) with flags ")
                .append(AllocFlags.toString(flags)).append(preferredNode < 0 ? " from the default node"
                        : " preferring node " + preferredNode).append(": ");
        if (reason != null) {
            sb.append(reason);
        } else if (tried.length == 0) {
            sb.append("no ENABLED node has a zone that may serve it");
        } else {
            StringJoiner j = new StringJoiner(", ", "tried ", "");
            for (Zone z : tried) {
                j.add(z.label() + " free " + z.snapshot(0).freePages() + " pages");
            }
            sb.append(j);
        }
        throw new AllocationFailedException(sb.toString());
    }

    private int orderFor(long bytes) {
        if (bytes <= 0 || bytes > maxBlockBytes) {
            throw badSize(bytes);
        }
        return blockOrder(bytes);
    }

    // Exceptions are built out of line, so the hot paths stay small enough for the JIT to inline them.
    private IllegalArgumentException badSize(long bytes) {
        return new IllegalArgumentException("size " + bytes + " out of range: must be 1.." + maxBlockBytes
                + " bytes (pageSize " + pageSize + " << maxOrder " + maxOrder + ")");
    }

    private static IllegalArgumentException badFlags(int flags) {
        return new IllegalArgumentException("unknown flag bits 0x" + Integer.toHexString(flags & ~AllocFlags.ALL)
                + " in flags " + AllocFlags.toString(flags));
    }

    private static IllegalArgumentException unknownNode(int node, int count) {
        return new IllegalArgumentException("unknown node " + node + " (nodes 0.." + (count - 1) + ")");
    }

    private IllegalStateException closedException() {
        return new IllegalStateException("allocator '" + name + "' is closed");
    }

    /** @return the order of the smallest block that holds {@code bytes} (1 .. maxBlockBytes, not checked) */
    private int blockOrder(long bytes) {
        return 64 - Long.numberOfLeadingZeros((bytes - 1) >>> pageShift);
    }

    private static void checkFlags(int flags) {
        if ((flags & ~AllocFlags.ALL) != 0) {
            throw badFlags(flags);
        }
    }

    @Override
    public void free(long handle) {
        checkOpen();
        long[] c = table.chunk(handle);
        int base = HandleTable.base(handle);
        long s = HandleTable.lvState(c, base);
        if (!HandleTable.isFreeable(s, handle) || !HandleTable.casState(c, base, s, HandleTable.freedState(s))) {
            freeContended(handle, c, base);
        }
        // The slot is ours now: no mover can freeze a FREE entry, so the location and size are stable.
        long loc = HandleTable.lpLocation(c, base);
        Zone z = zones[HandleTable.zoneOfLocation(loc)];
        int slot = HandleTable.slotOf(handle);
        ThreadCache tc = cacheOrders > 0 ? cache() : null;
        if (tc == null || !tc.free(z, blockOrder(HandleTable.lpSize(c, base)), slot)) {
            z.free((int) HandleTable.pageOfLocation(loc));
            table.releaseSlot(slot);
        }
    }

    /** The CAS loop of a free that found the entry pinned, moving, stale, or changing: returns once it is FREE. */
    private static void freeContended(long handle, long[] c, int base) {
        for (int spins = 0; ; spins++) {
            long s = HandleTable.lvState(c, base);
            if (!HandleTable.isLive(s, handle)) {
                throw HandleTable.stale(handle, s);
            }
            if ((s & MOVING) != 0) {
                HandleTable.backoff(spins);
                continue;
            }
            if ((s & PINS_MASK) != 0) {
                throw new IllegalStateException("cannot free handle 0x" + Long.toHexString(handle)
                        + ": it is pinned (pins " + HandleTable.pinsOf(s) + ")");
            }
            if (HandleTable.casState(c, base, s, HandleTable.freedState(s))) {
                return;
            }
        }
    }

    // =========================================================================================== thread caches

    /** @return the calling thread's cache, or null (virtual thread, caches off, closed) */
    private ThreadCache cache() {
        Thread t = Thread.currentThread();
        ThreadCache[] index = cacheIndex;
        ThreadCache tc = index[(int) t.threadId() & (index.length - 1)];
        return tc != null && tc.owner == t ? tc : threadCaches.get();
    }

    /** Puts every cache of {@code cs} in a new index that fits them; called under {@code this}. */
    private void reindex(ThreadCache[] cs) {
        int length = cacheIndex.length;
        while (length < 2 * cs.length) {
            length *= 2;
        }
        ThreadCache[] index = new ThreadCache[length];
        for (ThreadCache tc : cs) {
            int i = (int) tc.owner.threadId() & (length - 1);
            if (index[i] == null) {
                index[i] = tc;
            }
        }
        cacheIndex = index;
    }

    private ThreadCache newThreadCache() {
        Thread t = Thread.currentThread();
        if (cacheOrders == 0 || t.isVirtual() || closed) {
            return null; // a virtual thread's cache would outlive its short life in every ThreadLocal map
        }
        ThreadCache tc = new ThreadCache(t, table, cacheOrders, pageShift);
        synchronized (this) {
            ThreadCache[] cs = caches;
            if (cs.length >= nextDeadSweep) {
                cs = withoutDead(cs);
                nextDeadSweep = Math.max(64, cs.length * 2);
            }
            cs = Arrays.copyOf(cs, cs.length + 1);
            cs[cs.length - 1] = tc;
            caches = cs;
            reindex(cs);
        }
        return tc;
    }

    /** Gives back the caches of threads that have ended; called under {@code this}. */
    private ThreadCache[] withoutDead(ThreadCache[] cs) {
        List<ThreadCache> alive = new ArrayList<>(cs.length);
        List<ThreadCache> dead = new ArrayList<>();
        for (ThreadCache tc : cs) {
            (tc.owner.isAlive() ? alive : dead).add(tc);
        }
        if (!dead.isEmpty()) {
            steal(dead.toArray(new ThreadCache[0]), null);
        }
        return alive.toArray(new ThreadCache[0]);
    }

    /** Gives back the caches of threads that have ended. @return how many */
    int reclaimDeadCaches() {
        synchronized (this) {
            ThreadCache[] cs = caches;
            ThreadCache[] alive = withoutDead(cs);
            if (alive.length != cs.length) {
                caches = alive;
                reindex(alive);
            }
            return cs.length - alive.length;
        }
    }

    /** Runs {@link ThreadCache#steal} under the flush lock (one stealer at a time). */
    private long steal(ThreadCache[] cs, Zone[] only) {
        flushLock.lock();
        try {
            return ThreadCache.steal(cs, zones, only);
        } finally {
            flushLock.unlock();
        }
    }

    /**
     * Empties every thread's cache of {@code zs}, after they stopped accepting blocks (under the control lock, so
     * their epochs stay as they are until the next state change).
     */
    private void flushClosedZones(Zone[] zs) {
        assert control.isHeldByCurrentThread();
        flushCaches(zs);
        for (Zone z : zs) {
            z.flushedEpoch = z.cacheEpoch;
        }
    }

    /** @return the pages given back from every thread's cache of {@code zs} */
    private long flushCaches(Zone[] zs) {
        return steal(caches, zs);
    }

    @Override
    public long trimCaches() {
        checkOpen();
        reclaimDeadCaches();
        return steal(caches, null);
    }

    /**
     * One round of the background agent: gives back dead and idle threads' caches, then returns to the OS the
     * free blocks that have been free for {@code purgeTicks}. Holds each zone lock for a bounded walk at a time.
     *
     * @return a measure of the work done (0 when there was none)
     */
    int housekeep(int now, int purgeTicks) {
        if (closed) {
            return 0;
        }
        int work = reclaimDeadCaches();
        List<ThreadCache> idle = new ArrayList<>();
        for (ThreadCache tc : caches) {
            int ops = tc.operationCount();
            if (ops != tc.seenOperations) {
                tc.seenOperations = ops;
                tc.seenAtTick = now;
            } else if (now - tc.seenAtTick >= purgeTicks) {
                tc.seenAtTick = now;
                idle.add(tc);
            }
        }
        if (!idle.isEmpty()) {
            work += (int) Math.min(Integer.MAX_VALUE / 4, steal(idle.toArray(new ThreadCache[0]), null));
        }
        long[] purged = new long[1];
        for (Zone z : zones) {
            for (int page = 0; page < z.pages && !closed; ) {
                z.lock.lock();
                try {
                    page = z.purgeLocked(page, purgeTicks, Housekeeper.HEADS_PER_HOLD, Housekeeper.PAGES_PER_HOLD,
                            purged);
                } finally {
                    z.lock.unlock();
                }
            }
        }
        return work + (int) Math.min(Integer.MAX_VALUE / 4, purged[0]);
    }

    /** @return the pages of zone {@code zoneId} in all thread caches, sampled */
    private long cachedPages(int zoneId) {
        long pages = 0;
        for (ThreadCache tc : caches) {
            pages += tc.cachedPages(zoneId);
        }
        return pages;
    }

    // =========================================================================================== facts

    @Override
    public long sizeOf(long handle) {
        return readWord(handle, HandleTable.SIZE);
    }

    @Override
    public int zoneOf(long handle) {
        return HandleTable.zoneOfLocation(readWord(handle, HandleTable.LOCATION));
    }

    @Override
    public int nodeOf(long handle) {
        return zones[zoneOf(handle)].node.id;
    }

    @Override
    public boolean isMovable(long handle) {
        return (readWord(handle, HandleTable.FLAGS) & AllocFlags.HOTREMOVABLE) != 0;
    }

    /** Reads one word of a live entry, validated like an optimistic read. */
    private long readWord(long handle, int word) {
        checkOpen();
        long[] c = table.chunk(handle);
        int base = HandleTable.base(handle);
        for (int spins = 0; ; spins++) {
            long s1 = HandleTable.laState(c, base);
            if (!HandleTable.isLive(s1, handle)) {
                throw HandleTable.stale(handle, s1);
            }
            long v = c[base + word];
            VarHandle.acquireFence();
            if (((s1 ^ HandleTable.lpState(c, base)) & VALIDATE_MASK) == 0) {
                return v;
            }
            HandleTable.backoff(spins);
        }
    }

    // =========================================================================================== access

    @Override
    public long getLong(long handle, long offset) {
        return read(handle, offset, Long.BYTES);
    }

    @Override
    public int getInt(long handle, long offset) {
        return (int) read(handle, offset, Integer.BYTES);
    }

    @Override
    public byte getByte(long handle, long offset) {
        return (byte) read(handle, offset, Byte.BYTES);
    }

    @Override
    public void setLong(long handle, long offset, long value) {
        write(handle, offset, Long.BYTES, value);
    }

    @Override
    public void setInt(long handle, long offset, int value) {
        write(handle, offset, Integer.BYTES, value);
    }

    @Override
    public void setByte(long handle, long offset, byte value) {
        write(handle, offset, Byte.BYTES, value);
    }

    /** Optimistic read with a pinned fallback (protocol in {@link HandleTable}). */
    private long read(long handle, long offset, int width) {
        long[] c = table.chunk(handle);
        int base = HandleTable.base(handle);
        for (int attempt = 0; attempt < OPTIMISTIC_TRIES; attempt++) {
            long s1 = HandleTable.laState(c, base);
            if (!HandleTable.isLive(s1, handle)) {
                throw HandleTable.stale(handle, s1);
            }
            long size = HandleTable.lpSize(c, base);
            long loc = HandleTable.lpLocation(c, base);
            if (offset < 0 || offset > size - width) {
                break; // decided under a pin, where size is stable
            }
            long value;
            try {
                value = load(memoryOf(loc), offsetOf(loc) + offset, width);
            } catch (IllegalStateException | IndexOutOfBoundsException e) {
                // A location that moved on and whose node was unplugged (closed arena), or a torn location.
                continue;
            }
            VarHandle.acquireFence();
            if (((s1 ^ HandleTable.lpState(c, base)) & VALIDATE_MASK) == 0) {
                return value;
            }
        }
        HandleTable.pin(c, base, handle);
        try {
            checkOpen();
            checkRange(handle, offset, width, HandleTable.lpSize(c, base));
            long loc = HandleTable.lpLocation(c, base);
            try {
                return load(memoryOf(loc), offsetOf(loc) + offset, width);
            } catch (IllegalStateException | IndexOutOfBoundsException e) {
                throw closedOr(e);
            }
        } finally {
            HandleTable.unpin(c, base);
        }
    }

    private void write(long handle, long offset, int width, long value) {
        long[] c = table.chunk(handle);
        int base = HandleTable.base(handle);
        HandleTable.pin(c, base, handle);
        try {
            checkOpen();
            checkRange(handle, offset, width, HandleTable.lpSize(c, base));
            long loc = HandleTable.lpLocation(c, base);
            try {
                store(memoryOf(loc), offsetOf(loc) + offset, width, value);
            } catch (IllegalStateException | IndexOutOfBoundsException e) {
                throw closedOr(e);
            }
        } finally {
            HandleTable.unpin(c, base);
        }
    }

    private MemorySegment memoryOf(long loc) {
        return memoryByZone[HandleTable.zoneOfLocation(loc)];
    }

    private long offsetOf(long loc) {
        return HandleTable.pageOfLocation(loc) << pageShift;
    }

    private static long load(MemorySegment m, long at, int width) {
        return switch (width) {
            case Long.BYTES -> m.get(JAVA_LONG_UNALIGNED, at);
            case Integer.BYTES -> m.get(JAVA_INT_UNALIGNED, at);
            default -> m.get(JAVA_BYTE, at);
        };
    }

    private static void store(MemorySegment m, long at, int width, long value) {
        switch (width) {
            case Long.BYTES -> m.set(JAVA_LONG_UNALIGNED, at, value);
            case Integer.BYTES -> m.set(JAVA_INT_UNALIGNED, at, (int) value);
            default -> m.set(JAVA_BYTE, at, (byte) value);
        }
    }

    /** Throws {@link IndexOutOfBoundsException} unless {@code [offset, offset + length)} is inside {@code size}. */
    static void checkRange(long handle, long offset, long length, long size) {
        if (offset < 0 || length < 0 || offset > size - length) {
            throw new IndexOutOfBoundsException("range [" + offset + ", " + offset + " + " + length
                    + ") is out of bounds for handle 0x" + Long.toHexString(handle) + " of " + size + " bytes");
        }
    }

    @Override
    public void copyFrom(MemorySegment src, long srcOffset, long handle, long offset, long bytes) {
        Objects.requireNonNull(src, "src");
        long[] c = table.chunk(handle);
        int base = HandleTable.base(handle);
        HandleTable.pin(c, base, handle);
        try {
            checkOpen();
            checkRange(handle, offset, bytes, HandleTable.lpSize(c, base));
            long loc = HandleTable.lpLocation(c, base);
            MemorySegment.copy(src, srcOffset, memoryOf(loc), offsetOf(loc) + offset, bytes);
        } finally {
            HandleTable.unpin(c, base);
        }
    }

    @Override
    public void copyTo(long handle, long offset, MemorySegment dst, long dstOffset, long bytes) {
        Objects.requireNonNull(dst, "dst");
        long[] c = table.chunk(handle);
        int base = HandleTable.base(handle);
        HandleTable.pin(c, base, handle);
        try {
            checkOpen();
            checkRange(handle, offset, bytes, HandleTable.lpSize(c, base));
            long loc = HandleTable.lpLocation(c, base);
            MemorySegment.copy(memoryOf(loc), offsetOf(loc) + offset, dst, dstOffset, bytes);
        } finally {
            HandleTable.unpin(c, base);
        }
    }

    @Override
    public Pin pin(long handle) {
        long[] c = table.chunk(handle);
        int base = HandleTable.base(handle);
        HandleTable.pin(c, base, handle);
        try {
            checkOpen();
            long loc = HandleTable.lpLocation(c, base);
            return new PinImpl(handle, c, base, memoryOf(loc), offsetOf(loc), HandleTable.lpSize(c, base));
        } catch (RuntimeException | Error e) {
            HandleTable.unpin(c, base);
            throw e;
        }
    }

    @Override
    public MemorySegment segment(long handle) {
        checkOpen();
        if ((readWord(handle, HandleTable.FLAGS) & AllocFlags.HOTREMOVABLE) != 0) {
            throw new IllegalStateException("segment(0x" + Long.toHexString(handle)
                    + "): the allocation is movable (HOTREMOVABLE); use pin(handle)");
        }
        // A non-movable allocation never moves, so its location is fixed for its life.
        long loc = readWord(handle, HandleTable.LOCATION);
        return memoryOf(loc).asSlice(offsetOf(loc), readWord(handle, HandleTable.SIZE));
    }

    // =========================================================================================== nodes

    @Override
    public void plug(int node) {
        control.lock();
        try {
            Node n = nodeLocked(node);
            if (n.state != NodeState.UNPLUGGED) {
                throw new IllegalStateException("cannot plug node " + node + ": it is " + n.state.label()
                        + " (plugged already)");
            }
            plugLocked(n);
            LOG.log(System.Logger.Level.INFO, "{0}: node {1} plugged ({2} bytes)", name, node, n.spec.bytes());
        } finally {
            control.unlock();
        }
    }

    @Override
    public void enable(int node) {
        control.lock();
        try {
            Node n = nodeLocked(node);
            if (n.state != NodeState.DISABLED) {
                throw new IllegalStateException("cannot enable node " + node + ": it is " + n.state.label()
                        + (n.state == NodeState.UNPLUGGED ? " (plug it first)" : " already"));
            }
            setStateLocked(n, NodeState.ENABLED);
            LOG.log(System.Logger.Level.INFO, "{0}: node {1} enabled", name, node);
            notifyListeners(node, HotplugListener::onOnline, "onOnline");
        } finally {
            control.unlock();
        }
    }

    @Override
    public void disable(int node) {
        control.lock();
        try {
            Node n = nodeLocked(node);
            if (n.state != NodeState.ENABLED) {
                throw new IllegalStateException("cannot disable node " + node + ": it is " + n.state.label());
            }
            setStateLocked(n, NodeState.DISABLED);
            LOG.log(System.Logger.Level.INFO, "{0}: node {1} disabled", name, node);
        } finally {
            control.unlock();
        }
    }

    @Override
    public void unplug(int node) {
        control.lock();
        try {
            Node n = nodeLocked(node);
            if (n.state != NodeState.DISABLED) {
                throw new IllegalStateException("cannot unplug node " + node + ": it is " + n.state.label()
                        + (n.state == NodeState.ENABLED ? " (disable it first)" : ""));
            }
            unplugLocked(n);
        } finally {
            control.unlock();
        }
    }

    private void unplugLocked(Node n) {
        assert control.isHeldByCurrentThread();
        lockZones(n);
        try {
            int live = 0;
            for (Zone z : n.zones) {
                live += z.liveBlocksLocked();
            }
            if (live > 0) {
                throw new IllegalStateException("cannot unplug node " + n.id + ": it holds " + live
                        + " live allocation" + (live == 1 ? "" : "s") + " (free or drain them first)");
            }
            for (Zone z : n.zones) {
                z.unplugLocked();
            }
            n.state = NodeState.UNPLUGGED;
        } finally {
            unlockZones(n);
        }
        NodeStateEvent.emit(name, n.id, NodeState.DISABLED.label(), NodeState.UNPLUGGED.label());
        Backing b = n.backing;
        n.backing = null;
        b.close(); // every access still in flight on another thread ends first (shared arena handshake)
        publishZonelistsLocked();
        LOG.log(System.Logger.Level.INFO, "{0}: node {1} unplugged", name, n.id);
    }

    @Override
    public int addNode(NodeSpec spec) {
        Objects.requireNonNull(spec, "spec");
        control.lock();
        try {
            checkOpen();
            int id = nodes.length;
            checkSpec(id, spec);
            Zone[] oldZones = zones;
            int zoneId = oldZones.length;
            List<Zone> nodeZones = new ArrayList<>(2);
            Node n = new Node(id, spec, new Zone[(spec.hotRemovable() || spec.movableBytes() == 0) ? 1 : 2]);
            long normalBytes = spec.bytes() - spec.movableBytes();
            if (normalBytes > 0) {
                nodeZones.add(new Zone(zoneId++, ZoneType.NORMAL, n, 0, (int) (normalBytes >>> pageShift),
                        pageShift, maxOrder, memoryByZone, ticker));
            }
            if (spec.movableBytes() > 0) {
                nodeZones.add(new Zone(zoneId, ZoneType.MOVABLE, n, normalBytes,
                        (int) (spec.movableBytes() >>> pageShift), pageShift, maxOrder, memoryByZone, ticker));
            }
            nodeZones.toArray(n.zones);
            if (spec.initialState() != NodeState.UNPLUGGED) {
                plugLocked(n);
                if (spec.initialState() == NodeState.ENABLED) {
                    setStateLocked(n, NodeState.ENABLED);
                }
            }
            Zone[] newZones = Arrays.copyOf(oldZones, oldZones.length + n.zones.length);
            System.arraycopy(n.zones, 0, newZones, oldZones.length, n.zones.length);
            zones = newZones;
            Node[] newNodes = Arrays.copyOf(nodes, id + 1);
            newNodes[id] = n;
            nodes = newNodes;
            publishZonelistsLocked();
            return id;
        } finally {
            control.unlock();
        }
    }

    private void checkSpec(int id, NodeSpec spec) {
        if (spec.bytes() % pageSize != 0 || spec.movableBytes() % pageSize != 0) {
            throw new IllegalArgumentException("node " + id + ": size " + spec.bytes() + " and movable size "
                    + spec.movableBytes() + " must be multiples of the page size " + pageSize);
        }
        if ((spec.bytes() >>> pageShift) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("node " + id + ": size " + spec.bytes() + " is more than "
                    + Integer.MAX_VALUE + " pages of " + pageSize + " bytes");
        }
        if (zones.length + 2 > (1 << (64 - HandleTable.LOC_ZONE_SHIFT))) {
            throw new IllegalArgumentException("node " + id + ": too many zones (" + zones.length + ")");
        }
    }

    /** Maps the node's memory and hands it to its zones; the node becomes DISABLED. */
    private void plugLocked(Node n) {
        assert control.isHeldByCurrentThread();
        Backing b = Backing.allocate(backingKind, n.spec.bytes(), pageSize);
        MemorySegment all = b.segment();
        lockZones(n);
        try {
            for (Zone z : n.zones) {
                z.plugLocked(all.asSlice(z.offsetInNode, (long) z.pages << pageShift), b);
            }
            n.backing = b;
            n.state = NodeState.DISABLED;
        } finally {
            unlockZones(n);
        }
        NodeStateEvent.emit(name, n.id, NodeState.UNPLUGGED.label(), NodeState.DISABLED.label());
        publishZonelistsLocked();
    }

    /**
     * Sets a plugged node's state with all its zone locks held, so that a zone lock holder always sees the node's
     * state and the zone's openness agree; then republishes the zonelists. When this returns from a disable, no
     * allocation can take a block from the node any more: the zone lock decides, not the zonelist.
     */
    private void setStateLocked(Node n, NodeState state) {
        assert control.isHeldByCurrentThread() && state != NodeState.UNPLUGGED;
        NodeState from = n.state;
        lockZones(n);
        try {
            for (Zone z : n.zones) {
                z.setOpenLocked(state == NodeState.ENABLED);
            }
            n.state = state;
        } finally {
            unlockZones(n);
        }
        if (state != NodeState.ENABLED) {
            flushClosedZones(n.zones);
        }
        NodeStateEvent.emit(name, n.id, from.label(), state.label());
        publishZonelistsLocked();
    }

    /** Takes every zone lock of {@code n} in zone id order. */
    private static void lockZones(Node n) {
        for (Zone z : n.zones) {
            z.lock.lock();
        }
    }

    private static void unlockZones(Node n) {
        for (int i = n.zones.length - 1; i >= 0; i--) {
            n.zones[i].lock.unlock();
        }
    }

    private void publishZonelistsLocked() {
        assert control.isHeldByCurrentThread();
        zonelists = Zonelists.build(nodes);
    }

    private Node nodeLocked(int node) {
        assert control.isHeldByCurrentThread();
        checkOpen();
        Node[] ns = nodes;
        if (node < 0 || node >= ns.length) {
            throw new IllegalArgumentException("unknown node " + node + " (nodes 0.." + (ns.length - 1) + ")");
        }
        return ns[node];
    }

    @Override
    public int nodeCount() {
        checkOpen();
        return nodes.length;
    }

    @Override
    public MemoryStatus status() {
        checkOpen();
        List<NodeStatus> out = new ArrayList<>();
        for (Node n : nodes) {
            NodeState state = n.state;
            List<ZoneStatus> zs = new ArrayList<>();
            if (state != NodeState.UNPLUGGED) {
                for (Zone z : n.zones) {
                    zs.add(z.snapshot(cachedPages(z.id)));
                }
            }
            out.add(new NodeStatus(n.id, state, n.spec.hotRemovable(), zs));
        }
        return new MemoryStatus(out);
    }

    @Override
    public void checkInvariants() {
        checkOpen();
        for (Node n : nodes) {
            for (Zone z : n.zones) {
                z.lock.lock();
                try {
                    z.checkLocked();
                    // The node's state is written with all its zone locks held, so it agrees with this zone.
                    NodeState state = n.state;
                    boolean plugged = z.isPluggedLocked();
                    if (plugged != (state != NodeState.UNPLUGGED)) {
                        throw new IllegalStateException("invariant broken: node " + n.id + " is " + state.label()
                                + " but " + z.label() + (plugged ? " has" : " has no") + " memory");
                    }
                    if (z.isOpenLocked() != (state == NodeState.ENABLED)) {
                        throw new IllegalStateException("invariant broken: node " + n.id + " is " + state.label()
                                + " but " + z.label() + (z.isOpenLocked() ? " is" : " is not")
                                + " open to allocations");
                    }
                } finally {
                    z.lock.unlock();
                }
                // Invariant 3 for thread caches: once a zone stopped accepting blocks and the flush that follows
                // ended, no cache holds a block of it (none can get one while the epoch stays).
                int epoch = z.cacheEpoch;
                if (!Zone.isAcceptingEpoch(epoch) && z.flushedEpoch == epoch) {
                    long cached = cachedPages(z.id);
                    if (cached != 0 && z.cacheEpoch == epoch) {
                        throw new IllegalStateException("invariant broken: " + z.label() + " of node " + n.id
                                + " does not accept blocks, yet thread caches hold " + cached + " of its pages");
                    }
                }
            }
        }
    }

    // =========================================================================================== relocation

    @Override
    public RelocationReport remap(int zoneId, Duration timeout) {
        long start = System.nanoTime();
        long deadline = deadline(start, timeout);
        control.lock();
        try {
            checkOpen();
            Zone[] zs = zones;
            if (zoneId < 0 || zoneId >= zs.length) {
                throw new IllegalArgumentException("unknown zone " + zoneId + " (zones 0.." + (zs.length - 1) + ")");
            }
            Zone z = zs[zoneId];
            if (z.node.state == NodeState.UNPLUGGED) {
                throw new IllegalStateException("cannot remap zone " + zoneId + ": node " + z.node.id
                        + " is unplugged");
            }
            Zone[] targets = Arrays.stream(zonelists.get(z.node.id, AllocFlags.HOTREMOVABLE))
                    .filter(t -> t != z).toArray(Zone[]::new);
            setDraining(z, true);
            try {
                return relocate("remap zone " + zoneId, List.of(z), targets, start, deadline);
            } finally {
                setDraining(z, false);
            }
        } finally {
            control.unlock();
        }
    }

    private void setDraining(Zone z, boolean draining) {
        z.lock.lock();
        try {
            z.setDrainingLocked(draining);
        } finally {
            z.lock.unlock();
        }
        if (draining) {
            flushClosedZones(new Zone[] {z});
        }
    }

    @Override
    public RelocationReport drain(int node, Duration timeout) {
        return drainTo(node, NO_TARGET, timeout);
    }

    @Override
    public RelocationReport drain(int node, int targetNode, Duration timeout) {
        if (targetNode < 0) {
            throw new IllegalArgumentException("drain node " + node + ": unknown target node " + targetNode);
        }
        return drainTo(node, targetNode, timeout);
    }

    private RelocationReport drainTo(int node, int targetNode, Duration timeout) {
        long start = System.nanoTime();
        long deadline = deadline(start, timeout);
        control.lock();
        try {
            Node n = nodeLocked(node);
            if (targetNode != NO_TARGET) {
                nodeLocked(targetNode);
                if (targetNode == node) {
                    throw new IllegalArgumentException("drain node " + node + ": the target node " + targetNode
                            + " is the node being drained");
                }
            }
            if (n.state != NodeState.DISABLED) {
                throw new IllegalStateException("cannot drain node " + node + ": it is " + n.state.label()
                        + (n.state == NodeState.ENABLED ? " (disable it first)" : ""));
            }
            return drainLocked(n, targetNode, start, deadline);
        } finally {
            control.unlock();
        }
    }

    private RelocationReport drainLocked(Node n, int targetNode, long start, long deadline) {
        assert control.isHeldByCurrentThread() && n.state == NodeState.DISABLED;
        // The node is DISABLED, so no zonelist holds its zones: moves go elsewhere, by distance from the target.
        Zone[] targets = zonelists.get(targetNode >= 0 ? targetNode : n.id, AllocFlags.HOTREMOVABLE);
        String op = "drain node " + n.id + (targetNode >= 0 ? " to node " + targetNode : "");
        return relocate(op, List.of(n.zones), targets, start, deadline);
    }

    /** Runs a relocation with its JFR event, progress calls to the listeners, and a log line. */
    private RelocationReport relocate(String op, List<Zone> sources, Zone[] targets, long start, long deadline) {
        RelocationEvent event = new RelocationEvent();
        event.begin();
        RelocationReport r = relocator.relocate(op, sources, targets, start, deadline, this::notifyProgress,
                () -> flushCaches(targets));
        commit(event, r);
        logReport(r);
        return r;
    }

    private void commit(RelocationEvent event, RelocationReport r) {
        if (event.shouldCommit()) {
            event.allocator = name;
            event.operation = r.operation();
            event.complete = r.complete();
            event.movedBlocks = r.moved();
            event.movedBytes = r.movedBytes();
            event.remainingBlocks = r.remaining();
            event.failures = r.failures().entrySet().stream().sorted(Map.Entry.comparingByKey())
                    .map(e -> e.getKey() + "=" + e.getValue()).collect(java.util.stream.Collectors.joining(" "));
            event.commit();
        }
    }

    private void notifyProgress(RelocationProgress p) {
        for (HotplugListener l : listeners) {
            try {
                l.onProgress(p);
            } catch (RuntimeException | Error e) {
                LOG.log(System.Logger.Level.WARNING, name + ": listener " + l + " threw from onProgress", e);
            }
        }
    }

    @Override
    public RelocationReport offline(int node, Duration timeout) {
        RelocationEvent event = new RelocationEvent();
        event.begin();
        RelocationReport r = offlineReport(node, timeout);
        commit(event, r);
        logReport(r);
        return r;
    }

    private RelocationReport offlineReport(int node, Duration timeout) {
        long start = System.nanoTime();
        long deadline = deadline(start, timeout);
        control.lock();
        try {
            Node n = nodeLocked(node);
            if (!n.spec.hotRemovable()) {
                throw new IllegalStateException("cannot offline node " + node + ": it is not hot-removable");
            }
            if (n.state == NodeState.UNPLUGGED) {
                throw new IllegalStateException("cannot offline node " + node + ": it is unplugged already");
            }
            NodeState previous = n.state;
            if (previous == NodeState.ENABLED) {
                setStateLocked(n, NodeState.DISABLED);
            }
            for (HotplugListener l : listeners) {
                try {
                    l.onGoingOffline(node);
                } catch (RuntimeException | Error e) {
                    LOG.log(System.Logger.Level.WARNING, name + ": offline of node " + node + " vetoed by " + l, e);
                    cancelOfflineLocked(n, previous);
                    RelocationReport r = new RelocationReport("offline node " + node, false, 0, 0,
                            Zone.liveBlocks(List.of(n.zones)), List.of(), Map.of(FailureReason.VETOED, 1),
                            Duration.ofNanos(System.nanoTime() - start));
                    return r;
                }
            }
            RelocationReport drained = drainLocked(n, NO_TARGET, start, deadline);
            if (!drained.complete()) {
                cancelOfflineLocked(n, previous);
                return new RelocationReport("offline node " + node, false, drained.moved(), drained.movedBytes(),
                        drained.remaining(), drained.stragglers(), drained.failures(), drained.elapsed());
            }
            // Commit point: the node is empty and DISABLED, so nothing can land on it; it goes now.
            unplugLocked(n);
            notifyListeners(node, HotplugListener::onOffline, "onOffline");
            return new RelocationReport("offline node " + node, true, drained.moved(), drained.movedBytes(), 0,
                    List.of(), Map.of(), Duration.ofNanos(System.nanoTime() - start));
        } finally {
            control.unlock();
        }
    }

    private void cancelOfflineLocked(Node n, NodeState previous) {
        if (previous == NodeState.ENABLED) {
            setStateLocked(n, NodeState.ENABLED);
        }
        notifyListeners(n.id, HotplugListener::onCancelOffline, "onCancelOffline");
    }

    private void logReport(RelocationReport r) {
        LOG.log(r.complete() ? System.Logger.Level.INFO : System.Logger.Level.WARNING, "{0}: {1}", name, r);
    }

    private static long deadline(long start, Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("timeout " + timeout + " is negative");
        }
        long nanos;
        try {
            nanos = timeout.toNanos();
        } catch (ArithmeticException e) {
            nanos = Long.MAX_VALUE / 2;
        }
        return start + Math.min(nanos, Long.MAX_VALUE / 2);
    }

    @Override
    public Pin pinLongTerm(long handle) {
        for (int attempt = 0; ; attempt++) {
            Pin pin = pin(handle);
            long[] c = table.chunk(handle);
            int base = HandleTable.base(handle);
            long loc = HandleTable.lpLocation(c, base); // stable while pinned
            Zone z = zones[HandleTable.zoneOfLocation(loc)];
            if (z.type == ZoneType.NORMAL) {
                return pin;
            }
            pin.close();
            Zone[] targets = zonelists.get(z.node.id, AllocFlags.NONE);
            Relocator.Outcome o = relocator.move(z, (int) HandleTable.pageOfLocation(loc), targets,
                    new Relocator.Progress());
            if (o == Relocator.Outcome.NO_MEMORY && flushCaches(targets) == 0) {
                throw new AllocationFailedException("pinLongTerm(0x" + Long.toHexString(handle) + "): no NORMAL "
                        + "zone of an ENABLED node has room for its " + readWord(handle, HandleTable.SIZE)
                        + " bytes");
            }
            if (o == Relocator.Outcome.PINNED && attempt >= 1000) {
                throw new IllegalStateException("pinLongTerm(0x" + Long.toHexString(handle) + "): it stays pinned "
                        + "by others in MOVABLE " + z.label() + ", so it cannot leave removable memory");
            }
            if (o != Relocator.Outcome.MOVED) {
                HandleTable.backoff(attempt);
            }
        }
    }

    @Override
    public void addListener(HotplugListener listener) {
        listeners.add(Objects.requireNonNull(listener, "listener"));
    }

    @Override
    public void removeListener(HotplugListener listener) {
        listeners.remove(Objects.requireNonNull(listener, "listener"));
    }

    private void notifyListeners(int node, java.util.function.ObjIntConsumer<HotplugListener> call, String what) {
        for (HotplugListener l : listeners) {
            try {
                call.accept(l, node);
            } catch (RuntimeException | Error e) {
                LOG.log(System.Logger.Level.WARNING, name + ": listener " + l + " threw from " + what + "(" + node
                        + ")", e);
            }
        }
    }

    // =========================================================================================== configuration

    @Override
    public String name() {
        return name;
    }

    @Override
    public int pageSize() {
        return pageSize;
    }

    @Override
    public int maxOrder() {
        return maxOrder;
    }

    @Override
    public long maxAllocationBytes() {
        return maxBlockBytes;
    }

    @Override
    public void close() {
        control.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            zonelists = Zonelists.EMPTY;
            if (housekeeper != null) {
                housekeeper.close(); // joins the agent's thread
            }
            // Close every zone and wait for each cache's operation in flight, so none touches a zone's page map
            // after it is unplugged below.
            for (Node n : nodes) {
                lockZones(n);
                try {
                    for (Zone z : n.zones) {
                        z.setOpenLocked(false);
                    }
                } finally {
                    unlockZones(n);
                }
                flushClosedZones(n.zones);
            }
            if (mbeanName != null) {
                try {
                    ManagementFactory.getPlatformMBeanServer().unregisterMBean(mbeanName);
                } catch (JMException e) {
                    LOG.log(System.Logger.Level.WARNING, "cannot unregister MBean " + mbeanName, e);
                }
            }
            for (Node n : nodes) {
                lockZones(n);
                try {
                    for (Zone z : n.zones) {
                        z.unplugLocked();
                    }
                    n.state = NodeState.UNPLUGGED;
                } finally {
                    unlockZones(n);
                }
                if (n.backing != null) {
                    n.backing.close();
                    n.backing = null;
                }
            }
        } finally {
            control.unlock();
        }
    }

    /**
     * Memory access under a pin fails only when the allocator was closed meanwhile (the arena is gone); report
     * that, not the segment's own exception.
     */
    private RuntimeException closedOr(RuntimeException e) {
        if (closed) {
            return new IllegalStateException("allocator '" + name + "' is closed", e);
        }
        return e;
    }

    private void checkOpen() {
        if (closed) {
            throw closedException();
        }
    }

    @Override
    public String toString() {
        return "PageAllocator[" + name + ", pageSize " + pageSize + ", maxOrder " + maxOrder + ", nodes "
                + nodes.length + "]";
    }
}
