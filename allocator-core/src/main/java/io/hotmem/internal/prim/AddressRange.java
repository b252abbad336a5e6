package io.hotmem.internal.prim;

import io.hotmem.MemoryBacking;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The one address range an allocator reserves when it is built: every node's memory lives at a fixed offset inside
 * it, so a block's location is a byte offset and every internal access goes through the one segment
 * {@link #segment()}. Plugging a node maps nothing (with MMAP the pages are committed on first touch); unplugging
 * it gives its pages back ({@link #release}) and leaves them readable as zeros, so a late optimistic reader of an
 * old copy reads zeros (and fails its validation) instead of faulting. Only {@link #close} unmaps the range.
 *
 * <p>The internal segment belongs to a shared {@link Arena}: closing it handshakes every thread, so no access is in
 * flight when the memory goes, and any later access throws {@link IllegalStateException}. The segments handed to
 * users are views of a node's part of the range with a scope of their own ({@link #view}), closed when that node is
 * unplugged.
 */
public interface AddressRange {

    /** @return the whole range, aligned to the allocator's page size; valid until {@link #close} */
    MemorySegment segment();

    /**
     * @param offset page-aligned offset in the range
     * @param bytes  length
     * @param scope  the view's scope (a node's user arena)
     * @return {@code [offset, offset + bytes)} of the range as a segment of {@code scope}: it throws
     *         {@link IllegalStateException} once {@code scope} is closed
     */
    default MemorySegment view(long offset, long bytes, Arena scope) {
        return segment().asSlice(offset, bytes).reinterpret(scope, null);
    }

    /**
     * Tells the OS that {@code [offset, offset + bytes)} is unused: its pages are taken back and read as zero
     * afterwards. A no-op where the backing cannot do it ({@link #canRelease}).
     *
     * @param offset page-aligned offset in the range
     * @param bytes  page-aligned length
     */
    void release(long offset, long bytes);

    /** @return whether {@link #release} really gives memory back (false where it is a no-op) */
    boolean canRelease();

    /**
     * Closes the internal segment (every access in flight on another thread ends first), then returns the memory
     * to the OS unless {@code keepMapped}. May be called again: a later call without {@code keepMapped} returns
     * what an earlier one kept (close's late release).
     *
     * @param keepMapped leave the memory mapped: a user view of it may still be inside an operation (blocking I/O)
     * @throws IllegalStateException if the internal segment is inside an operation (a scoped reader's view in
     *                               blocking I/O): nothing changed
     */
    void close(boolean keepMapped);

    /**
     * Reserves a range.
     *
     * @param kind  which backing; AUTO means MMAP on Linux and ARENA elsewhere
     * @param bytes the range's size
     * @param align the range's alignment (the page size)
     * @return the range
     * @throws IllegalStateException if the memory cannot be had, or MMAP is asked for where it is not available
     */
    static AddressRange reserve(MemoryBacking kind, long bytes, long align) {
        return switch (kind) {
            case AUTO -> MmapRange.AVAILABLE ? new MmapRange(bytes, align) : new ArenaRange(bytes, align);
            case MMAP -> {
                if (!MmapRange.AVAILABLE) {
                    throw new IllegalStateException("MMAP backing needs Linux; this is "
                            + System.getProperty("os.name") + " (use AUTO or ARENA)");
                }
                yield new MmapRange(bytes, align);
            }
            case ARENA -> new ArenaRange(bytes, align);
        };
    }

    /** @return whether {@code kind} commits memory only when it is touched (MMAP, and AUTO on Linux) */
    static boolean lazy(MemoryBacking kind) {
        return kind == MemoryBacking.MMAP || (kind == MemoryBacking.AUTO && MmapRange.AVAILABLE);
    }
}
