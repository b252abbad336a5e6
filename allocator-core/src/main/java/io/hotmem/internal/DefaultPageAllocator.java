package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.HotplugListener;
import io.hotmem.LeakDetection;
import io.hotmem.LeakReport;
import io.hotmem.MemoryBacking;
import io.hotmem.MemoryStatus;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationReport;
import io.hotmem.internal.prim.AddressRange;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * The {@link PageAllocator}: argument checks and delegation to the engine's parts, each one concern:
 * <ul>
 *   <li>{@link Allocation}: allocate and free, fast (thread caches) and slow (zone locks);</li>
 *   <li>{@link Access}: reads, scoped reads, writes, copies, pins and segments through handles, all through
 *       the allocator's one address range ({@link AllocatorContext#memory});</li>
 *   <li>{@link HandleProtocol}, {@link HandleTable}, {@link HandleLayout}, {@link HandleTags}: the handle
 *       protocol, the table it runs on, its bit layouts, and the tags that keep allocators apart;</li>
 *   <li>{@link NodeLifecycle}: node transitions, the offline transaction, close; {@link Topology}: what they
 *       publish;</li>
 *   <li>{@link Relocations} and {@link Relocator}: remap, drain, long-term pins, and the mover;</li>
 *   <li>{@link CacheRegistry} and {@link ThreadCache}: per-thread caches and the handshake that reclaims them;</li>
 *   <li>{@link Housekeeper}: the background agent; {@link Listeners} and {@link Telemetry}: what the outside
 *       is told.</li>
 * </ul>
 *
 * <p><b>Calls racing close.</b> Every public call fails with {@link IllegalStateException} once the allocator is
 * closed. A call that passed its check just before a concurrent close may meet what close took away (a closed
 * arena, an emptied index): whatever it meets then is reported as the same {@link IllegalStateException}
 * ({@link AllocatorContext#closedOr}), never as the exception of the part it met.
 */
public final class DefaultPageAllocator implements PageAllocator {
    private final AllocatorContext ctx;
    private final Telemetry telemetry;
    private final Listeners listeners;
    private final CacheRegistry registry;
    private final NodeLifecycle lifecycle;
    private final Access access;
    private final Compactor compactor;
    private final Allocation allocation;
    private final Relocations relocations;
    /** The background agent, or null. */
    private final Housekeeper housekeeper;
    private final Governor governor;

    /**
     * Builds the allocator with every node in its initial state. Called by {@link PageAllocator.Builder}.
     *
     * @param name          the allocator's name
     * @param pageSize      page size (validated by the builder)
     * @param maxOrder      largest block order (validated by the builder)
     * @param backingKind   where node memory comes from
     * @param addressSpace  the bytes of address space to reserve for nodes, or 0 for the default (see
     *                      {@link PageAllocator.Builder#addressSpace})
     * @param specs         the nodes in id order
     * @param jmx           whether to register the MXBean
     * @param cacheMaxOrder largest order kept in thread caches, -1 for none (validated by the builder)
     * @param purgeAfter    how long a free block stays resident before the agent returns it to the OS
     * @param agent         whether to run the background agent
     * @param elastic       whether the governor plugs and offlines nodes by itself
     * @param followCgroup  whether the capacity limit follows a cgroup v2 memory limit
     * @param cgroupDir     the cgroup's directory, null for the process's own
     * @param cgroupReserve bytes of the cgroup's limit kept for the rest of the process
     * @param compaction    whether allocations and the agent compact zones by themselves
     * @param leakDetection the leak detection level
     * @param residentFreeLimit the resident free memory each zone keeps at most, as a fraction of its active memory
     *                      (validated by the builder; +infinity for no limit)
     * @throws IllegalStateException if {@value HandleTags#MAX_LIVE} allocators are open already, a node's memory
     *                               cannot be had, or the MBean name is taken
     */
    public DefaultPageAllocator(String name, int pageSize, int maxOrder, MemoryBacking backingKind,
                                long addressSpace, List<NodeSpec> specs, boolean jmx, int cacheMaxOrder,
                                Duration purgeAfter, boolean agent, boolean elastic, boolean followCgroup,
                                java.nio.file.Path cgroupDir, long cgroupReserve, boolean compaction,
                                LeakDetection leakDetection, double residentFreeLimit) {
        CgroupLimit cgroup = followCgroup ? new CgroupLimit(cgroupDir, cgroupReserve) : null; // before any resource
        this.ctx = new AllocatorContext(name, pageSize, maxOrder, backingKind,
                addressSpaceFor(addressSpace, specs, backingKind, pageSize), leakDetection, residentFreeLimit);
        this.telemetry = new Telemetry(name);
        this.listeners = new Listeners(name);
        MemoryTable memory = new MemoryTable();
        AllocatorContext c = ctx;
        this.registry = new CacheRegistry(ctx, cacheMaxOrder + 1, () -> c.topology.zones);
        this.compactor = new Compactor(ctx, registry, compaction);
        this.allocation = new Allocation(ctx, registry, telemetry, this::growForAllocation, compactor);
        this.lifecycle = new NodeLifecycle(ctx, telemetry, listeners, registry, memory);
        this.access = new Access(ctx, memory);
        this.relocations = new Relocations(ctx, lifecycle, registry, listeners, telemetry, access, compactor,
                allocation);
        this.governor = new Governor(ctx, lifecycle, relocations, registry, elastic, cgroup);
        Housekeeper agentStarted = null;
        try {
            for (int i = 0; i < specs.size(); i++) {
                lifecycle.checkSpec(i, specs.get(i), 2 * i);
            }
            for (NodeSpec spec : specs) {
                lifecycle.addNode(spec);
            }
            if (jmx) {
                telemetry.registerMBean(this, ctx.leaks::leakedPinCount);
            }
            agentStarted = agent ? Housekeeper.start(ctx, registry, lifecycle::topology, purgeAfter, governor,
                    compactor) : null;
        } catch (RuntimeException | Error e) {
            lifecycle.close(telemetry::unregisterMBean);
            throw e;
        }
        this.housekeeper = agentStarted;
    }

    /**
     * The default address space: every node given, and room to add four times as much (at least 1 GiB) lazily,
     * capped at {@link #MAX_DEFAULT_ADDRESS_SPACE} unless the nodes given need more.
     */
    private static long addressSpaceFor(long asked, List<NodeSpec> specs, MemoryBacking kind, int pageSize) {
        long nodes = 0;
        for (NodeSpec s : specs) {
            nodes = addExact(nodes, s.bytes(), "node sizes");
        }
        if (asked != 0) {
            if (asked < nodes) {
                throw new IllegalArgumentException("addressSpace " + asked + " is less than the " + nodes
                        + " bytes of the nodes given to the builder");
            }
            return asked;
        }
        if (!AddressRange.lazy(kind)) {
            return Math.max(nodes, pageSize); // ARENA commits the whole range: no room beyond the nodes
        }
        long room = Math.max(1L << 30, nodes > Long.MAX_VALUE / 8 ? nodes : 4 * nodes);
        return Math.max(nodes, Math.min(addExact(nodes, room, "address space"), MAX_DEFAULT_ADDRESS_SPACE));
    }

    /** 64 TiB: half of x86-64's user address space is the most a default reserves. */
    private static final long MAX_DEFAULT_ADDRESS_SPACE = 1L << 46;

    private static long addExact(long a, long b, String what) {
        try {
            return Math.addExact(a, b);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(what + " overflow a long: " + a + " + " + b);
        }
    }

    // =========================================================================================== allocation

    @Override
    public long allocate(long bytes, int flags) {
        try {
            return allocation.allocate(bytes, flags, -1, true);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public long allocate(long bytes, int flags, int preferredNode) {
        checkNodeArg(preferredNode);
        try {
            return allocation.allocate(bytes, flags, preferredNode, true);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public long tryAllocate(long bytes, int flags, int preferredNode) {
        checkNodeArg(preferredNode);
        try {
            return allocation.allocate(bytes, flags, preferredNode, false);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    private void checkNodeArg(int node) {
        ctx.checkOpen();
        if (node < 0) {
            throw Allocation.unknownNode(node, lifecycle.topology().nodes.length);
        }
    }

    @Override
    public void free(long handle) {
        try {
            allocation.free(handle);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public long trimCaches() {
        ctx.checkOpen();
        try {
            return registry.reclaimAll();
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    // =========================================================================================== facts

    @Override
    public long sizeOf(long handle) {
        ctx.checkOpen();
        try {
            return access.sizeOf(handle);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public int zoneOf(long handle) {
        ctx.checkOpen();
        try {
            return access.zoneOf(handle);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public int nodeOf(long handle) {
        ctx.checkOpen();
        try {
            int zone = access.zoneOf(handle); // first: its acquire makes the topology read after it new enough
            return lifecycle.topology().zones[zone].node.id;
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public boolean isMovable(long handle) {
        ctx.checkOpen();
        try {
            return (access.flagsOf(handle) & AllocFlags.HOTREMOVABLE) != 0;
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    // =========================================================================================== access

    @Override
    public long getLong(long handle, long offset) {
        try {
            return access.read(handle, offset, Long.BYTES);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public int getInt(long handle, long offset) {
        try {
            return (int) access.read(handle, offset, Integer.BYTES);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public byte getByte(long handle, long offset) {
        try {
            return (byte) access.read(handle, offset, Byte.BYTES);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public void setLong(long handle, long offset, long value) {
        try {
            access.write(handle, offset, Long.BYTES, value);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public void setInt(long handle, long offset, int value) {
        try {
            access.write(handle, offset, Integer.BYTES, value);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public void setByte(long handle, long offset, byte value) {
        try {
            access.write(handle, offset, Byte.BYTES, value);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public void copyFrom(MemorySegment src, long srcOffset, long handle, long offset, long bytes) {
        try {
            access.copyFrom(src, srcOffset, handle, offset, bytes);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public void copyTo(long handle, long offset, MemorySegment dst, long dstOffset, long bytes) {
        try {
            access.copyTo(handle, offset, dst, dstOffset, bytes);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public <R> R read(long handle, Function<? super MemorySegment, ? extends R> reader) {
        try {
            return access.read(handle, reader);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public long readAsLong(long handle, ToLongFunction<? super MemorySegment> reader) {
        try {
            return access.readAsLong(handle, reader);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public long readAsLong(long handle, long offset, long length, ToLongFunction<? super MemorySegment> reader) {
        try {
            return access.readAsLong(handle, offset, length, reader);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public Pin pin(long handle) {
        try {
            return access.pin(handle);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public MemorySegment segment(long handle) {
        ctx.checkOpen();
        try {
            return access.segment(handle);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    // =========================================================================================== nodes

    @Override
    public void plug(int node) {
        ctx.checkOpen();
        lifecycle.plug(node);
    }

    @Override
    public void enable(int node) {
        ctx.checkOpen();
        lifecycle.enable(node);
    }

    @Override
    public void disable(int node) {
        ctx.checkOpen();
        lifecycle.disable(node);
    }

    @Override
    public void unplug(int node) {
        ctx.checkOpen();
        lifecycle.unplug(node);
    }

    @Override
    public int addNode(NodeSpec spec) {
        ctx.checkOpen();
        return lifecycle.addNode(spec);
    }

    /** For {@link Allocation}: the governor's say before an allocation fails (false while being built). */
    private boolean growForAllocation(int flags, int order, int preferredNode) {
        Governor g = governor;
        return g != null && g.growFor(flags, order, preferredNode);
    }

    // =========================================================================================== capacity

    @Override
    public void setCapacityLimit(long bytes) {
        ctx.checkOpen();
        try {
            governor.setLimit(bytes);
            if (housekeeper != null) {
                housekeeper.wake();
            } else {
                governor.enforceNow();
            }
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public long capacityLimit() {
        ctx.checkOpen();
        return governor.limit();
    }

    @Override
    public long pluggedBytes() {
        ctx.checkOpen();
        return lifecycle.pluggedBytes();
    }

    @Override
    public void setElastic(boolean on) {
        ctx.checkOpen();
        governor.setElastic(on);
        if (housekeeper != null) {
            housekeeper.wake();
        }
    }

    @Override
    public boolean isElastic() {
        ctx.checkOpen();
        return governor.isElastic();
    }

    @Override
    public int nodeCount() {
        ctx.checkOpen();
        return lifecycle.topology().nodes.length;
    }

    @Override
    public MemoryStatus status() {
        ctx.checkOpen();
        try {
            return StatusView.status(lifecycle.topology(), registry, governor.limit(), governor.isElastic(),
                    governor.lastReport());
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public void checkInvariants() {
        ctx.checkOpen();
        try {
            StatusView.checkInvariants(lifecycle.topology(), registry);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    // =========================================================================================== relocation

    @Override
    public RelocationReport remap(int zoneId, Duration timeout) {
        ctx.checkOpen();
        return relocations.remap(zoneId, timeout);
    }

    @Override
    public RelocationReport compact(int zoneId, Duration timeout) {
        ctx.checkOpen();
        long start = System.nanoTime();
        long deadline = Relocations.deadline(start, timeout);
        Zone z = lifecycle.topology().zone(zoneId);
        try {
            NodeState state = z.node.state;
            if (state != NodeState.ENABLED) {
                // A close racing this call disables the node first: closedOr reports the close.
                throw new IllegalStateException("cannot compact zone " + zoneId + ": node " + z.node.id + " is "
                        + state.label() + " (only an ENABLED node's zones are compacted)");
            }
            RelocationReport r = compactor.compact(z, Compactor.Trigger.COMMAND, -1, start, deadline);
            ctx.checkOpen(); // woken by close: what moved stays moved, but nothing is left to use
            return r;
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public RelocationReport drain(int node, Duration timeout) {
        ctx.checkOpen();
        return relocations.drain(node, Relocations.NO_TARGET, timeout);
    }

    @Override
    public RelocationReport drain(int node, int targetNode, Duration timeout) {
        ctx.checkOpen();
        if (targetNode < 0) {
            throw new IllegalArgumentException("drain node " + node + ": unknown target node " + targetNode);
        }
        return relocations.drain(node, targetNode, timeout);
    }

    @Override
    public RelocationReport offline(int node, Duration timeout) {
        ctx.checkOpen();
        return lifecycle.offline(node, timeout, relocations);
    }

    @Override
    public Pin pinLongTerm(long handle) {
        ctx.checkOpen();
        try {
            return relocations.pinLongTerm(handle);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public void addListener(HotplugListener listener) {
        ctx.checkOpen();
        listeners.add(listener);
    }

    @Override
    public void removeListener(HotplugListener listener) {
        ctx.checkOpen();
        listeners.remove(listener);
    }

    // =========================================================================================== configuration

    @Override
    public String name() {
        return ctx.name;
    }

    @Override
    public int pageSize() {
        return ctx.pageSize;
    }

    @Override
    public int maxOrder() {
        return ctx.maxOrder;
    }

    @Override
    public long maxAllocationBytes() {
        return ctx.maxBlockBytes;
    }

    @Override
    public LeakReport leaks() {
        ctx.checkOpen();
        try {
            return ctx.leaks.report(ctx.table);
        } catch (RuntimeException e) {
            throw ctx.closedOr(e);
        }
    }

    @Override
    public void close() {
        lifecycle.close(() -> {
            if (housekeeper != null) {
                housekeeper.close(); // joins the agent's thread
            }
            telemetry.unregisterMBean();
        });
    }

    @Override
    public String toString() {
        return "PageAllocator[" + ctx.name + ", pageSize " + ctx.pageSize + ", maxOrder " + ctx.maxOrder
                + ", nodes " + lifecycle.topology().nodes.length + (ctx.isClosed() ? ", closed]" : "]");
    }
}
