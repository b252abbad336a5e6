package io.hotmem;

import io.hotmem.internal.DefaultPageAllocator;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * An off-heap page allocator over memory nodes that can be plugged, enabled, disabled and unplugged at run time.
 *
 * <p>Every allocation is a run of pages from one zone's buddy allocator, reached through a {@code long} handle
 * ({@link #NULL_HANDLE}, 0, is never one). A request holds exactly the pages its size needs: it is cut from the
 * smallest block of {@code 2^order} pages that holds it, and the rest of that block stays free for others (so a
 * 130 KiB request holds 33 pages of 4 KiB, not 64). {@link AllocFlags#ALIGNED} asks for the whole naturally aligned
 * block instead. The allocation's size, and so the range its accessors accept, is the number of bytes requested.
 *
 * <p><b>Threads.</b> Every method may be called from any thread. Accessors of one allocation are linearizable:
 * a read returns the last completed write, and a long read or written at an 8-aligned offset is never torn.
 * Node transitions are serialised with each other. Small blocks (see {@link Builder#threadCacheMaxOrder}) are
 * allocated and freed through a cache of the calling thread, so a free block may sit in one thread's cache for a
 * while: an allocation that would otherwise fail, and every disable, drain and remap, first takes such blocks back
 * (see {@link #trimCaches()}). A background agent returns memory that stays free to the operating system (see
 * {@link Builder#purgeAfter}).
 *
 * <p><b>Handles.</b> A handle names one slot of this allocator's handle table and that slot's generation, which
 * every free advances: a handle kept after its free is stale and gets {@link StaleHandleException}, before any
 * memory is touched. No two open allocators (at most 4,095 at once in one JVM; building one more throws
 * {@link IllegalStateException}) accept each other's handles. Limits, because a generation is finite (28 bits): a
 * handle kept while its slot is freed and reused 2^28 times names the slot's live allocation again. One slot cycled
 * by a tight allocate-free loop gets there in about 11 s on a 2-vCPU cloud VM (JDK 25); a handle freed by a
 * program and never used again is not affected. A handle of a closed allocator given to a new one whose tag
 * is the same is rejected unless its generation matches by chance (each new allocator's slots start at a
 * different generation).
 *
 * <p><b>Errors.</b> Every misuse gets an exception whose message names the bad value, and changes nothing:
 * {@link IllegalArgumentException} for bad sizes, flags, node or zone ids; {@link StaleHandleException} for a
 * handle that names no live allocation (checked before any memory is touched); {@link IndexOutOfBoundsException}
 * for an offset or length outside the allocation; {@link IllegalStateException} for an illegal transition, for
 * a node transition started from inside a {@link HotplugListener} callback, for freeing a pinned allocation, for
 * a pin beyond the {@value #MAX_PINS} one allocation can hold at once (every write, copy and pinned read takes one
 * for its duration, so they fail too while an allocation holds that many), for a {@link #pinLongTerm} that other
 * pins keep from moving, and for any call after {@link #close()} (also one that races with it);
 * {@link AllocationFailedException} when no zone can serve an allocation.
 *
 * <pre>{@code
 * PageAllocator a = PageAllocator.builder()
 *         .name("example").pageSize(4096).maxOrder(10)
 *         .node(NodeSpec.fixed(64L << 20))                          // node 0
 *         .node(NodeSpec.hotRemovable(64L << 20))                   // node 1
 *         .node(NodeSpec.hotRemovable(64L << 20).startUnplugged())  // node 2
 *         .build();
 * long h = a.allocate(10_000, AllocFlags.HOTREMOVABLE);
 * a.setLong(h, 8, 42L);
 * try (Pin pin = a.pin(h)) {
 *     MemorySegment s = pin.segment();   // valid only while pinned
 * }
 * a.free(h);
 * a.close();
 * }</pre>
 */
public interface PageAllocator extends AutoCloseable {

    /** Never a handle: what {@code tryAllocate} returns when it cannot allocate. */
    long NULL_HANDLE = 0L;

    /**
     * The most pins one allocation holds at once: {@link #pin}, {@link #pinLongTerm} and, for their duration,
     * every write, copy and pinned read of the allocation take one; beyond it they throw
     * {@link IllegalStateException} naming the handle.
     */
    int MAX_PINS = 65_535;

    /**
     * Returns a builder with the defaults: name "hotmem", 4 KiB pages, maxOrder 10, no node, AUTO backing, thread
     * caches for blocks up to 64 KiB, free memory purged after 10 seconds by a background agent, leak detection
     * SAMPLED (or as the system property {@value LeakDetection#PROPERTY} says).
     *
     * @return a builder with those defaults
     */
    static Builder builder() {
        return new Builder();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Allocation

    /**
     * Allocates {@code bytes} preferring the lowest-numbered ENABLED node.
     *
     * @param bytes size in bytes, 1 to {@link #maxAllocationBytes()}
     * @param flags {@link AllocFlags} bits
     * @return the handle, never {@link #NULL_HANDLE}
     * @throws IllegalArgumentException for a bad size or unknown flag bits
     * @throws AllocationFailedException when no zone can serve it
     */
    long allocate(long bytes, int flags);

    /**
     * Allocates {@code bytes} preferring {@code node}, falling back by distance unless {@link AllocFlags#THISNODE}.
     *
     * @param bytes         size in bytes, 1 to {@link #maxAllocationBytes()}
     * @param flags         {@link AllocFlags} bits
     * @param preferredNode a node id
     * @return the handle, never {@link #NULL_HANDLE}
     * @throws IllegalArgumentException for a bad size, unknown flag bits or an unknown node
     * @throws AllocationFailedException when no zone can serve it
     */
    long allocate(long bytes, int flags, int preferredNode);

    /**
     * As {@link #allocate(long, int, int)}, but returns {@link #NULL_HANDLE} instead of throwing
     * {@link AllocationFailedException}. Bad arguments still throw.
     *
     * @param bytes         size in bytes
     * @param flags         {@link AllocFlags} bits
     * @param preferredNode a node id
     * @return the handle, or {@link #NULL_HANDLE}
     */
    long tryAllocate(long bytes, int flags, int preferredNode);

    /**
     * Frees an allocation. Its handle becomes stale at once.
     *
     * @param handle a live handle
     * @throws StaleHandleException if the handle is not live (double free included)
     * @throws IllegalStateException if the allocation is pinned, or at {@link LeakDetection#PARANOID} if an
     *                               operation (blocking I/O) is using a segment of it (nothing is freed)
     */
    void free(long handle);

    // ---------------------------------------------------------------------------------------------------------
    // Facts about an allocation

    /**
     * Returns the bytes requested for it.
     *
     * @param handle a live handle
     * @return the bytes requested for it
     */
    long sizeOf(long handle);

    /**
     * Returns the node it is on now (it may move if movable).
     *
     * @param handle a live handle
     * @return the node it is on now (it may move if movable)
     */
    int nodeOf(long handle);

    /**
     * Returns the zone it is in now (it may move if movable).
     *
     * @param handle a live handle
     * @return the zone it is in now (it may move if movable)
     */
    int zoneOf(long handle);

    /**
     * Returns whether it was allocated with {@link AllocFlags#HOTREMOVABLE}.
     *
     * @param handle a live handle
     * @return whether it was allocated with {@link AllocFlags#HOTREMOVABLE}
     */
    boolean isMovable(long handle);

    // ---------------------------------------------------------------------------------------------------------
    // Access through the handle

    /**
     * Reads a long through the handle (optimistic: no lock, no write to shared memory).
     *
     * @param handle a live handle
     * @param offset byte offset, {@code [offset, offset + 8)} inside the allocation
     * @return the long at {@code offset} (native byte order)
     */
    long getLong(long handle, long offset);

    /**
     * Writes a long through the handle (pins the allocation for the store).
     *
     * @param handle a live handle
     * @param offset byte offset, {@code [offset, offset + 8)} inside the allocation
     * @param value  the long to store (native byte order)
     */
    void setLong(long handle, long offset, long value);

    /**
     * Reads an int through the handle.
     *
     * @param handle a live handle
     * @param offset byte offset, {@code [offset, offset + 4)} inside the allocation
     * @return the int at {@code offset}
     */
    int getInt(long handle, long offset);

    /**
     * Writes an int through the handle.
     *
     * @param handle a live handle
     * @param offset byte offset, {@code [offset, offset + 4)} inside the allocation
     * @param value  the int to store
     */
    void setInt(long handle, long offset, int value);

    /**
     * Reads a byte through the handle.
     *
     * @param handle a live handle
     * @param offset byte offset inside the allocation
     * @return the byte at {@code offset}
     */
    byte getByte(long handle, long offset);

    /**
     * Writes a byte through the handle.
     *
     * @param handle a live handle
     * @param offset byte offset inside the allocation
     * @param value  the byte to store
     */
    void setByte(long handle, long offset, byte value);

    /**
     * Copies {@code bytes} from {@code src} into the allocation, atomically with respect to moves.
     *
     * @param src       the source
     * @param srcOffset offset in {@code src}
     * @param handle    a live handle
     * @param offset    offset in the allocation
     * @param bytes     how many bytes
     * @throws IndexOutOfBoundsException if either range is out of bounds (nothing is copied)
     */
    void copyFrom(MemorySegment src, long srcOffset, long handle, long offset, long bytes);

    /**
     * Copies {@code bytes} out of the allocation into {@code dst}.
     *
     * @param handle    a live handle
     * @param offset    offset in the allocation
     * @param dst       the destination
     * @param dstOffset offset in {@code dst}
     * @param bytes     how many bytes
     * @throws IndexOutOfBoundsException if either range is out of bounds (nothing is copied)
     */
    void copyTo(long handle, long offset, MemorySegment dst, long dstOffset, long bytes);

    /**
     * A scoped read: reads several values of one allocation with one translation and one validation, like
     * {@link java.util.concurrent.locks.StampedLock#tryOptimisticRead()}. {@code reader} gets a read-only segment
     * of the allocation ({@code sizeOf(handle)} bytes) and returns what it computed from it.
     *
     * <p><b>Contract.</b> The first calls are optimistic: no lock and no write to shared memory, while the allocation
     * may be moving. In such a call the segment may show a stale or inconsistent view (bytes of an old copy, zeros,
     * or another allocation's bytes if the handle was freed meanwhile); its result is thrown away unless the
     * allocation was neither moved nor freed during the call, and then {@code reader} is called again. So
     * {@code reader} must
     * <ul>
     *   <li>have no side effects (it may run several times, and on a view that is not the allocation's);</li>
     *   <li>not keep the segment, or anything that reads it, past its return;</li>
     *   <li>bound its own work on any view (a length read from the segment may be garbage in a failed attempt).</li>
     * </ul>
     * A {@link RuntimeException} thrown by {@code reader} in an attempt whose view turns out stale is a retry too;
     * one thrown on a consistent view propagates. After a few failed attempts the allocation is pinned and
     * {@code reader} runs once on a stable view. Errors propagate at once.
     *
     * <p><b>What "consistent" covers.</b> A scoped read excludes moves and frees: every byte the reader saw is of
     * this allocation, from one copy. It does not exclude writers: a write by another thread (a {@link Pin}, or
     * {@link #setLong}) that overlaps the read may show partly, as with any memory shared by threads (each long
     * written at an 8-aligned offset is still seen whole). A record that other threads rewrite while it is read
     * needs the application's own versioning (a sequence number written first and last, read first and last).
     *
     * <pre>{@code
     * Point p = allocator.read(h, s -> new Point(s.get(JAVA_INT_UNALIGNED, 0), s.get(JAVA_INT_UNALIGNED, 4)));
     * // the record of two longs and an int at byte 64: one validation for the three reads
     * long total = allocator.readAsLong(h, 64, 20, s -> s.get(JAVA_LONG_UNALIGNED, 0)
     *         + s.get(JAVA_LONG_UNALIGNED, 8) + s.get(JAVA_INT_UNALIGNED, 16));
     * }</pre>
     *
     * @param handle a live handle
     * @param reader reads the allocation's segment; no side effects
     * @param <R>    the result type
     * @return what {@code reader} returned on a consistent view
     * @throws StaleHandleException if the handle is not live (when the read starts)
     * @throws IndexOutOfBoundsException if {@code reader} reads outside the allocation (on a consistent view)
     */
    <R> R read(long handle, Function<? super MemorySegment, ? extends R> reader);

    /**
     * {@link #read(long, Function)} for a reader that computes a long: the same contract, no boxing.
     *
     * @param handle a live handle
     * @param reader reads the allocation's segment; no side effects
     * @return what {@code reader} returned on a consistent view
     * @throws StaleHandleException if the handle is not live (when the read starts)
     */
    long readAsLong(long handle, ToLongFunction<? super MemorySegment> reader);

    /**
     * {@link #read(long, Function)} of the part {@code [offset, offset + length)} of the allocation, for a reader
     * that computes a long: the same contract; the reader's segment is that part ({@code length} bytes, its byte 0
     * at {@code offset}). No boxing, and the reader needs to capture no offset, so a non-capturing lambda makes the
     * call allocation-free.
     *
     * @param handle a live handle
     * @param offset where the part starts in the allocation
     * @param length the part's bytes
     * @param reader reads the part's segment; no side effects
     * @return what {@code reader} returned on a consistent view
     * @throws StaleHandleException if the handle is not live (when the read starts)
     * @throws IndexOutOfBoundsException if the part is not inside the allocation, or {@code reader} reads outside
     *                                   the part (on a consistent view)
     */
    long readAsLong(long handle, long offset, long length, ToLongFunction<? super MemorySegment> reader);

    /**
     * Pins the allocation: it neither moves nor can be freed until the pin is closed. A pin that leak detection
     * tracks and that becomes unreachable without {@link Pin#close()} is reported with the stack that took it
     * (see {@link LeakDetection}).
     *
     * @param handle a live handle
     * @return the pin; close it promptly
     * @throws IllegalStateException if the allocation holds {@value #MAX_PINS} pins already (pins that are never
     *                               closed stay until the allocator closes)
     */
    Pin pin(long handle);

    /**
     * The memory of a non-movable allocation, {@code sizeOf(handle)} bytes long. It never moves; it must not be
     * used after the allocation is freed: it would read and write whatever block is there then, except at
     * {@link LeakDetection#PARANOID}, where such a use throws {@link IllegalStateException} and touches nothing.
     *
     * @param handle a live handle of a non-movable allocation
     * @return its memory
     * @throws IllegalStateException if the allocation is movable (use {@link #pin(long)})
     */
    MemorySegment segment(long handle);

    // ---------------------------------------------------------------------------------------------------------
    // Nodes

    /**
     * Gives an UNPLUGGED node its memory; it becomes DISABLED.
     *
     * @param node a node id
     * @throws IllegalStateException if the node is plugged, its bytes would take the plugged bytes past the
     *         capacity limit, a {@link HotplugListener} vetoes it ({@code onGoingOnline}), or a segment of its
     *         previous plugging is still inside an operation; the node stays UNPLUGGED
     */
    void plug(int node);

    /**
     * Lets a DISABLED node serve allocations.
     *
     * @param node a node id
     * @throws IllegalStateException if the node is not DISABLED, or a {@link HotplugListener} vetoes it
     *         ({@code onGoingOnline}; the node stays DISABLED)
     */
    void enable(int node);

    /**
     * Stops an ENABLED node from handing out blocks (live allocations stay usable). When this returns, no
     * allocation in progress can still take a block from it.
     *
     * @param node a node id
     * @throws IllegalStateException if the node is not ENABLED
     */
    void disable(int node);

    /**
     * Returns a DISABLED node's memory to the operating system; it becomes UNPLUGGED.
     *
     * @param node a node id
     * @throws IllegalStateException if the node is ENABLED or UNPLUGGED, or holds live allocations (the message
     *         gives their count)
     */
    void unplug(int node);

    // ---------------------------------------------------------------------------------------------------------
    // Capacity

    /**
     * Sets the capacity limit: the most bytes of plugged nodes the allocator may hold. Lowering it below the
     * plugged bytes makes the capacity governor take hot-removable nodes offline, those with the fewest used bytes
     * first, their data drained into the rest, until the plugged bytes are at most the limit: on the background
     * agent (this call returns at once), or, without the agent, in this call. A node held back by a pinned
     * allocation is rolled back and tried again later (backoff); the governor's last difficulty shows in
     * {@link MemoryStatus#governorReport()}. While above the limit, no node is plugged. Raising it lets nodes
     * be plugged again (by an operator, or by the governor when elastic). Fixed nodes are never offlined. Without
     * the agent, a node that cannot go (pinned, vetoed) is skipped for the next; what is left is not retried until
     * the next call.
     *
     * @param bytes the limit; {@code Long.MAX_VALUE} for none (the default)
     * @throws IllegalArgumentException if {@code bytes} is negative, below the bytes of plugged fixed nodes, or
     *         below those plus the bytes in use in hot-removable nodes (it could never be met); nothing changes
     * @throws IllegalStateException if called from inside a {@link HotplugListener} callback
     */
    void setCapacityLimit(long bytes);

    /**
     * Returns the capacity limit in force.
     *
     * @return the limit set by {@link #setCapacityLimit}, or lower where a followed cgroup leaves less
     *         ({@link Builder#followCgroup}); {@code Long.MAX_VALUE} for none
     */
    long capacityLimit();

    /**
     * Returns the bytes of every node that is not UNPLUGGED.
     *
     * @return the plugged bytes
     */
    long pluggedBytes();

    /**
     * Turns elastic capacity on or off (Linux's auto-online of movable memory). When on, the capacity governor
     * plugs and enables an UNPLUGGED hot-removable node (the lowest id that fits under the limit) before an
     * allocation would fail, and when free memory in ENABLED nodes falls below a low watermark
     * ({@code max(largest block, plugged / 8)}); and it offlines the emptiest hot-removable node once the free
     * memory without it stays at least twice the low watermark for 2 seconds (the watermark steps run on the
     * background agent; without it only the growth before a failing allocation happens). A listener may veto a
     * node coming online ({@link HotplugListener#onGoingOnline}); the governor then backs off.
     *
     * @param on whether the governor plugs and offlines nodes by itself
     */
    void setElastic(boolean on);

    /**
     * Returns whether capacity is elastic.
     *
     * @return whether the governor plugs and offlines nodes by itself ({@link #setElastic})
     */
    boolean isElastic();

    /**
     * Adds a node at run time. Its id is the next one; its zones get the next zone ids.
     *
     * @param spec the node; its size must be a multiple of the page size
     * @return the new node's id
     * @throws IllegalStateException if the node does not fit in what is left of the address space
     *         ({@link Builder#addressSpace}), or it starts plugged and its bytes would pass the capacity limit, or a
     *         {@link HotplugListener} vetoes its plug or enable ({@code onGoingOnline}, called before the node is
     *         visible in {@link #nodeCount()} and {@link #status()}); nothing is added
     */
    int addNode(NodeSpec spec);

    /**
     * Returns the number of nodes (ids are {@code 0 .. nodeCount() - 1}).
     *
     * @return the number of nodes (ids are {@code 0 .. nodeCount() - 1})
     */
    int nodeCount();

    /**
     * Returns a snapshot of every node and zone.
     *
     * @return a snapshot of every node and zone
     */
    MemoryStatus status();

    /**
     * Checks the allocator's invariants and throws {@link IllegalStateException} naming the first broken one:
     * per zone, {@code free + active == present} and the buddy free lists agree with the page map; a MOVABLE zone
     * holds only HOTREMOVABLE blocks; a node that is not ENABLED accepts no allocation; an UNPLUGGED node holds no
     * memory. Safe to call at any time; costs a walk of every zone's page map.
     */
    void checkInvariants();

    // ---------------------------------------------------------------------------------------------------------
    // Relocation

    /**
     * Moves every movable allocation out of one zone (of any plugged node), to other zones by the zonelist rules
     * of the zone's node: never back into this zone, never into a node that is not ENABLED. While it runs, the
     * zone hands out no new block. Runs in passes until nothing is left or the deadline passes; pinned blocks are
     * skipped and retried, never forced.
     *
     * <p>Timeouts of the relocation operations ({@code remap}, {@code compact}, {@code drain}, {@code offline}):
     * any length that is not negative; a very long one (up to {@code Duration.ofSeconds(Long.MAX_VALUE)}) in effect
     * means no deadline.
     * The command view ({@link HotplugCommands}) and the MXBean accept at most one day.
     *
     * @param zoneId  a zone id
     * @param timeout how long it may take
     * @return what moved, and why anything was left
     * @throws IllegalArgumentException for an unknown zone or a negative timeout
     * @throws IllegalStateException if the zone's node is unplugged
     */
    RelocationReport remap(int zoneId, Duration timeout);

    /**
     * Compacts one zone of an ENABLED node (Linux memory compaction): moves its movable allocations towards the
     * zone's end, each into a free block above it, so that the free pages they leave merge into large blocks. A
     * migrate scanner walks up from the zone's start and a free scanner takes free blocks from its end; it stops
     * where they meet (or at the deadline). Allocations keep being read, written, allocated and freed while it
     * runs; pinned and non-movable allocations stay where they are, and nothing moves to another zone.
     * {@link ZoneStatus#freeBlocks()} shows the result. The allocator also compacts by itself: an allocation that
     * finds enough free pages but no free block large enough compacts the zone first (for at most 20 ms), and
     * the background agent compacts zones whose free memory is mostly in blocks smaller than the largest.
     *
     * @param zoneId  a zone of an ENABLED node
     * @param timeout how long it may take
     * @return what moved; {@code remaining} counts the pinned and non-movable blocks it had to leave below the
     *         meeting point, with their reasons in {@code failures}; {@code complete} when the scanners met and
     *         none was left
     * @throws IllegalArgumentException for an unknown zone or a negative timeout
     * @throws IllegalStateException if the zone's node is not ENABLED, a remap of the zone is running (a drain or
     *                               remap takes the zone's blocks away, and it takes no new ones meanwhile), either
     *                               starts while the compaction runs (what moved stays moved), or the allocator is
     *                               closed
     */
    RelocationReport compact(int zoneId, Duration timeout);

    /**
     * Moves every movable allocation off a DISABLED node, preferring nodes near it. The node stays DISABLED
     * whatever happens; what moved stays moved, the rest stays valid where it was.
     *
     * @param node    a DISABLED node
     * @param timeout how long it may take (see {@link #remap})
     * @return what moved, and why anything was left
     * @throws IllegalArgumentException for an unknown node or a negative timeout
     * @throws IllegalStateException if the node is not DISABLED (disable it first)
     */
    RelocationReport drain(int node, Duration timeout);

    /**
     * As {@link #drain(int, Duration)}, with replacement blocks preferably on {@code targetNode}: in its zones first
     * (MOVABLE, then NORMAL, so a fixed target takes them in its NORMAL zone), then in the other ENABLED nodes' by
     * distance from it. A target that is not ENABLED takes none.
     *
     * @param node       a DISABLED node
     * @param targetNode the preferred node for replacement blocks
     * @param timeout    how long it may take
     * @return what moved, and why anything was left
     */
    RelocationReport drain(int node, int targetNode, Duration timeout);

    /**
     * Takes a hot-removable node out: disable it (if ENABLED), call {@link HotplugListener#onGoingOffline} on each
     * listener (a throw vetoes), drain it, then at one commit point unplug it and call
     * {@link HotplugListener#onOffline}. Any failure before the commit point (veto, pinned blocks past the
     * deadline, no memory, interrupt) restores the node's previous state and calls
     * {@link HotplugListener#onCancelOffline}; the report says why.
     *
     * @param node    a plugged hot-removable node
     * @param timeout how long the drain may take (see {@link #remap})
     * @return the report; {@code complete()} is true when the node was unplugged
     * @throws IllegalArgumentException for an unknown node or a negative timeout
     * @throws IllegalStateException if the node is unplugged or not hot-removable
     */
    RelocationReport offline(int node, Duration timeout);

    /**
     * Pins an allocation for a long time (in-flight I/O): first moves it out of removable memory into a NORMAL
     * zone if it is not in one (Linux FOLL_LONGTERM), so it never blocks an unplug, then pins it.
     *
     * <p>A block that is pinned cannot move: this waits for the other pins to close, at most 50 ms (enough for short
     * pins on other threads), then fails (a pin the caller holds itself never closes meanwhile).
     *
     * @param handle a live handle
     * @return the pin
     * @throws AllocationFailedException if no NORMAL zone of an ENABLED node has room for it, also after compacting
     *                                   them (as an allocation does, unless compaction is off)
     * @throws IllegalStateException if other pins keep it in removable memory for 50 ms (nothing changes), a remap
     *                               or drain of the NORMAL zones keeps moving it back, or it holds
     *                               {@value #MAX_PINS} pins already
     */
    Pin pinLongTerm(long handle);

    /**
     * Adds a listener of node transitions and relocation progress.
     *
     * @param listener told about node transitions, from now on
     * @throws IllegalStateException if the allocator is closed
     */
    void addListener(HotplugListener listener);

    /**
     * Removes a listener added before (nothing happens if it was not).
     *
     * @param listener no longer told
     * @throws IllegalStateException if the allocator is closed
     */
    void removeListener(HotplugListener listener);

    // ---------------------------------------------------------------------------------------------------------
    // Configuration

    /**
     * Returns the allocator's name.
     *
     * @return the allocator's name
     */
    String name();

    /**
     * Returns the page size in bytes.
     *
     * @return the page size in bytes
     */
    int pageSize();

    /**
     * Returns the largest block order.
     *
     * @return the largest block order
     */
    int maxOrder();

    /**
     * Returns the largest allocation in bytes: {@code pageSize() << maxOrder()}.
     *
     * @return the largest allocation in bytes: {@code pageSize() << maxOrder()}
     */
    long maxAllocationBytes();

    /**
     * Unplugs every node and releases all memory. Live allocations are gone; every later call throws
     * {@link IllegalStateException}, except {@code close}, {@link #name()}, {@link #pageSize()},
     * {@link #maxOrder()}, {@link #maxAllocationBytes()} and {@code toString()}, which describe the configuration.
     * A call racing with close either completes before it or throws {@link IllegalStateException}; a remap, drain or
     * offline in progress stops at its next step (what moved stays moved) and throws it. Threads' caches and the
     * background agent let go of the allocator, so nothing of it stays reachable from a thread that used it. A
     * second call waits for the first to finish, then returns.
     *
     * <p>An operation that is using a segment of the allocator at close (blocking I/O on a pin's segment, a
     * {@link #segment(long)} or a scoped reader's view) keeps that memory mapped while it lasts, rather than have
     * it unmapped under the operation: the segments of that node go on working meanwhile. Once it ends, the memory
     * is released within about 100 ms (a daemon thread, {@code hotmem-late-release}, retries) and every such
     * segment throws {@link IllegalStateException}, also at {@link LeakDetection#PARANOID}, whose segments have
     * scopes of their own.
     *
     * @throws IllegalStateException if called from inside a {@link HotplugListener} callback
     */
    @Override
    void close();

    /**
     * Gives every thread's cached free blocks back to their zones (and the caches of threads that have ended, with
     * their free handle slots). Caches fill again as threads allocate. Allocation does this by itself before it
     * fails, and the background agent does it for caches idle longer than the purge delay; call it to see exact
     * free counts or to let large blocks form from small cached ones.
     *
     * @return the pages given back
     * @throws IllegalStateException if the allocator is closed
     */
    long trimCaches();

    /**
     * Returns what leak detection knows now: the tracked allocations still live and the tracked pins found
     * unreachable without {@link Pin#close()}, by the place that made them (see {@link LeakDetection} for which
     * are tracked, and {@link Builder#leakDetection} for the level). Empty lists at
     * {@link LeakDetection#DISABLED}.
     *
     * @return the report
     * @throws IllegalStateException if the allocator is closed
     */
    LeakReport leaks();

    /** Builds a {@link PageAllocator}. Not thread-safe. */
    final class Builder {
        /** The most address space one allocator may reserve: 4 PiB. */
        private static final long MAX_ADDRESS_SPACE = 1L << 52;
        /** Marks "pick the default" for the thread-cache limit. */
        private static final int DEFAULT_CACHE_ORDER = Integer.MIN_VALUE;

        private String name = "hotmem";
        private int pageSize = 4096;
        private int maxOrder = 10;
        private MemoryBacking backing = MemoryBacking.AUTO;
        private long addressSpace;
        private boolean jmx;
        private int threadCacheMaxOrder = DEFAULT_CACHE_ORDER;
        private Duration purgeAfter = Duration.ofSeconds(10);
        private double residentFreeLimit = Double.POSITIVE_INFINITY;
        private boolean backgroundThread = true;
        private boolean elastic;
        private boolean compaction = true;
        private boolean followCgroup;
        private java.nio.file.Path cgroupDir;
        private long cgroupReserve;
        /** Null: the system property's level, or SAMPLED. */
        private LeakDetection leakDetection;
        private final List<NodeSpec> nodes = new ArrayList<>();

        Builder() {
        }

        /**
         * Returns this.
         *
         * @param name the allocator's name (non-blank)
         * @return this
         */
        public Builder name(String name) {
            Objects.requireNonNull(name, "name");
            if (name.isBlank()) {
                throw new IllegalArgumentException("name must not be blank: '" + name + "'");
            }
            this.name = name;
            return this;
        }

        /**
         * Returns this.
         *
         * @param pageSize a power of two from 4096 to 65536
         * @return this
         */
        public Builder pageSize(int pageSize) {
            if (pageSize < 4096 || pageSize > 65536 || Integer.bitCount(pageSize) != 1) {
                throw new IllegalArgumentException(
                        "pageSize " + pageSize + " must be a power of two from 4096 to 65536");
            }
            this.pageSize = pageSize;
            return this;
        }

        /**
         * Returns this.
         *
         * @param maxOrder largest block order, 0 to 20
         * @return this
         */
        public Builder maxOrder(int maxOrder) {
            if (maxOrder < 0 || maxOrder > 20) {
                throw new IllegalArgumentException("maxOrder " + maxOrder + " must be from 0 to 20");
            }
            this.maxOrder = maxOrder;
            return this;
        }

        /**
         * Returns this.
         *
         * @param backing where node memory comes from
         * @return this
         */
        public Builder backing(MemoryBacking backing) {
            this.backing = Objects.requireNonNull(backing, "backing");
            return this;
        }

        /**
         * Sets the address space reserved for nodes when the allocator is built: every node's memory lives at a
         * fixed offset in one range, so that reaching a block is one add (no lookup per node), and a node added
         * later with {@link PageAllocator#addNode} must fit in what is left. With MMAP backing the range is
         * reserved with {@code MAP_NORESERVE} and costs address space only until its pages are touched; with ARENA
         * backing the whole range is allocated (and resident) at once. Default: with MMAP, the nodes given to the
         * builder plus four times as much again (at least 1 GiB, at most 64 TiB unless the nodes need more); with
         * ARENA, exactly the nodes given.
         *
         * @param bytes a multiple of the page size, at least the bytes of the nodes given (checked by
         *              {@link #build()})
         * @return this
         */
        public Builder addressSpace(long bytes) {
            if (bytes <= 0 || bytes > MAX_ADDRESS_SPACE) {
                throw new IllegalArgumentException("addressSpace " + bytes + " must be from 1 to " + MAX_ADDRESS_SPACE
                        + " (4 PiB)");
            }
            this.addressSpace = bytes;
            return this;
        }

        /**
         * Asks for (or not) the JMX view of the allocator.
         *
         * @param jmx whether to register a {@link PageAllocatorMXBean} as
         *            {@code io.hotmem:type=PageAllocator,name=<name>} (unregistered on close)
         * @return this
         */
        public Builder jmx(boolean jmx) {
            this.jmx = jmx;
            return this;
        }

        /**
         * Sets the largest block order kept in per-thread caches. Allocations up to that order are allocated and
         * freed through the calling thread's cache (no lock shared with other threads): every run of 1 to 16 pages
         * has a class of its own, longer ones only as whole blocks of {@code 2^k} pages (or with
         * {@link AllocFlags#ALIGNED}). Each thread keeps at most about 1 MiB per zone and order (less in zones
         * under 64 MiB, but two blocks of an order where two fit in 1 MiB); a block larger than 1 MiB is never
         * cached, whatever the order set here. Default: the orders whose blocks are at most 64 KiB (orders 0 to 4 with 4 KiB
         * pages), capped at {@code maxOrder}. Virtual threads never use a cache.
         *
         * @param order -1 for no thread caches, or 0 to 20 (capped at {@code maxOrder} by {@link #build()})
         * @return this
         */
        public Builder threadCacheMaxOrder(int order) {
            if (order < -1 || order > 20) {
                throw new IllegalArgumentException("threadCacheMaxOrder " + order + " must be from -1 (off) to 20");
            }
            this.threadCacheMaxOrder = order;
            return this;
        }

        /**
         * Sets how long memory stays free before the background agent returns it to the operating system
         * ({@code madvise(MADV_DONTNEED)} with MMAP backing; ARENA memory cannot be returned) and before an idle
         * thread's cache is given back. The blocks stay free and are used again at once. Default 10 seconds (as
         * jemalloc's decay time).
         *
         * @param delay zero or more; zero returns free memory at the agent's next round; any longer delay, up to
         *              {@code ChronoUnit.FOREVER}, is accepted and counts as at most 2^30 ms (about 12 days)
         * @return this
         */
        public Builder purgeAfter(Duration delay) {
            Objects.requireNonNull(delay, "delay");
            if (delay.isNegative()) {
                throw new IllegalArgumentException("purgeAfter " + delay + " is negative");
            }
            this.purgeAfter = delay;
            return this;
        }

        /**
         * Caps the free memory each zone keeps resident, as a fraction of the zone's memory in use (at least 4 MiB
         * per zone): a free that leaves more (because it freed memory, or because the memory in use fell) returns
         * resident free blocks, the oldest first, to the operating system at once ({@code madvise(MADV_DONTNEED)}
         * with MMAP backing; ARENA memory cannot be returned), rather than after {@link #purgeAfter}; at most 16
         * blocks per free (or per batch a thread cache or a move frees at once), so a zone over its cap in many small
         * blocks comes back under it over the next frees. For workloads
         * that free faster than the purge delay and must keep their resident size near their data: measured on a
         * 512 MiB churn of 4-256 KiB buffers (the README's fragmentation benchmark), 0.05 keeps the peak within 1.09
         * of the live bytes (1.48-1.55 without), at 2.5 times the churn time; a small live set that churns large
         * blocks pays page faults and system calls (random replacement of 256 live buffers of 256 B-256 KiB about
         * 1.7 times slower). Blocks held by thread caches count as in use. Where the operating system refuses to take
         * memory back (mlock-ed memory), the cap turns itself off for that zone with one warning; a free never
         * fails for it. Default: no cap.
         *
         * @param fractionOfActive zero or more, or {@link Double#POSITIVE_INFINITY} for no cap
         * @return this
         */
        public Builder residentFreeLimit(double fractionOfActive) {
            if (!(fractionOfActive >= 0)) { // NaN too
                throw new IllegalArgumentException("residentFreeLimit " + fractionOfActive
                        + " must be zero or more (Double.POSITIVE_INFINITY for no cap)");
            }
            this.residentFreeLimit = fractionOfActive;
            return this;
        }

        /**
         * Runs (or not) the background agent: one daemon thread named {@code hotmem-agent-<name>} that gives back
         * caches of ended and idle threads and returns long-free memory to the OS (see {@link #purgeAfter}). It
         * skips unplugged nodes and stops on {@link PageAllocator#close()}. Default on; without it, memory returns
         * to the OS only when a node is unplugged.
         *
         * @param run whether to run the agent
         * @return this
         */
        public Builder backgroundThread(boolean run) {
            this.backgroundThread = run;
            return this;
        }

        /**
         * Turns the allocator's own compaction on or off: direct compaction, when an allocation finds enough free
         * pages in a zone but no free block large enough (it then waits up to 20 ms while the zone is compacted),
         * and background compaction by the agent. {@link PageAllocator#compact} works either way. Default on.
         *
         * @param compaction whether allocations and the agent compact zones by themselves
         * @return this builder
         */
        public Builder compaction(boolean compaction) {
            this.compaction = compaction;
            return this;
        }

        /**
         * Starts the allocator with elastic capacity on or off (see {@link PageAllocator#setElastic}). Default off.
         *
         * @param elastic whether the governor plugs and offlines nodes by itself
         * @return this
         */
        public Builder elastic(boolean elastic) {
            this.elastic = elastic;
            return this;
        }

        /**
         * Makes the capacity limit follow a cgroup v2 memory limit (a container's, a pod's): the background agent
         * reads {@code memory.max} and {@code memory.high} of the cgroup at most every 100 ms, and the limit becomes
         * the smaller of the two minus what the rest of the process uses (its resident set minus hotmem's resident
         * memory) minus {@code reserveBytes}, and never more than {@link PageAllocator#setCapacityLimit} says. A
         * cgroup that leaves less than the allocator needs (plugged fixed nodes plus data) is met as far as it can
         * be; a file that cannot be parsed changes nothing; both are shown in
         * {@link MemoryStatus#governorReport()}. Needs the background agent.
         *
         * @param cgroupDirectory the cgroup's directory (holding {@code memory.max}); null for the process's own,
         *                        found under {@code /sys/fs/cgroup} from {@code /proc/self/cgroup}
         * @param reserveBytes    bytes of the cgroup's limit kept for the rest of the process to grow into
         * @return this
         */
        public Builder followCgroup(java.nio.file.Path cgroupDirectory, long reserveBytes) {
            if (reserveBytes < 0) {
                throw new IllegalArgumentException("reserveBytes " + reserveBytes + " is negative");
            }
            this.followCgroup = true;
            this.cgroupDir = cgroupDirectory;
            this.cgroupReserve = reserveBytes;
            return this;
        }

        /**
         * Sets how closely the allocator watches for leaked pins, leaked allocations and use after free (see
         * {@link LeakDetection}). Default: the level the system property {@value LeakDetection#PROPERTY} names,
         * read by {@link #build()}, or {@link LeakDetection#SAMPLED} when it is not set; a level set here wins
         * over the property.
         *
         * @param level the level
         * @return this
         */
        public Builder leakDetection(LeakDetection level) {
            this.leakDetection = Objects.requireNonNull(level, "level");
            return this;
        }

        /**
         * Returns this.
         *
         * @param spec the next node (ids follow the order of these calls)
         * @return this
         */
        public Builder node(NodeSpec spec) {
            nodes.add(Objects.requireNonNull(spec, "spec"));
            return this;
        }

        /**
         * Builds the allocator: reserves its address space and plugs every node that does not start unplugged.
         *
         * @return the allocator, with every node in its initial state
         * @throws IllegalArgumentException if a node's sizes are not multiples of the page size, or the address
         *         space is not a multiple of the page size or is less than the nodes' bytes, or no leak detection
         *         level was set and the system property {@value LeakDetection#PROPERTY} names none
         * @throws IllegalStateException if a node's memory cannot be had, or JMX is asked for and an MBean of the
         *         same name is registered already
         */
        public PageAllocator build() {
            int cacheOrder = threadCacheMaxOrder != DEFAULT_CACHE_ORDER ? threadCacheMaxOrder
                    : 16 - Integer.numberOfTrailingZeros(pageSize);
            if (followCgroup && !backgroundThread) {
                throw new IllegalArgumentException("followCgroup needs the background agent (backgroundThread(true))");
            }
            if (addressSpace % pageSize != 0) {
                throw new IllegalArgumentException("addressSpace " + addressSpace + " must be a multiple of the page "
                        + "size " + pageSize);
            }
            LeakDetection leaks = leakDetection;
            if (leaks == null) {
                String property = System.getProperty(LeakDetection.PROPERTY);
                try {
                    leaks = property == null ? LeakDetection.SAMPLED : LeakDetection.parse(property);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("system property " + LeakDetection.PROPERTY + ": "
                            + e.getMessage(), e);
                }
            }
            return new DefaultPageAllocator(name, pageSize, maxOrder, backing, addressSpace, List.copyOf(nodes), jmx,
                    Math.min(cacheOrder, maxOrder), purgeAfter, backgroundThread, elastic, followCgroup, cgroupDir,
                    cgroupReserve, compaction, leaks, residentFreeLimit);
        }
    }
}
