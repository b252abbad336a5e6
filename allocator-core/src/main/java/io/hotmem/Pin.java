package io.hotmem;

import java.lang.foreign.MemorySegment;

/**
 * A pinned allocation: while a pin is open the allocation does not move and cannot be freed, so its memory can be
 * used directly. Close it promptly (try-with-resources): a pinned block holds up every drain of its zone.
 *
 * <p>The typed accessors check the offset against the allocation and cost one bounds check and one plain memory
 * access each: pin once, then read or write a whole record through them. Every accessor throws
 * {@link IllegalStateException} once the pin is closed, and {@link IndexOutOfBoundsException} for a range outside
 * the allocation (changing nothing).
 *
 * <pre>{@code
 * try (Pin p = allocator.pin(h)) {   // one pin for the record
 *     p.setLong(0, id);
 *     p.setInt(8, count);
 *     p.setByte(12, flags);
 * }
 * }</pre>
 *
 * <p>A pin belongs to the thread that uses it; it is not meant to be shared. {@link #close()} is idempotent.
 */
public interface Pin extends AutoCloseable {

    /**
     * Returns the pinned handle.
     *
     * @return the pinned handle
     */
    long handle();

    /**
     * Returns the allocation's size.
     *
     * @return the bytes requested for the allocation (the range the accessors accept)
     */
    long size();

    /**
     * The allocation's memory, {@code sizeOf(handle)} bytes long. Valid only while this pin is open: after
     * {@link #close()} the allocation may move or be freed, and the segment must not be used (it would read and
     * write whatever block is there then; at {@link LeakDetection#PARANOID} such a use throws
     * {@link IllegalStateException} and touches nothing).
     *
     * @return the pinned memory
     * @throws IllegalStateException if the pin is closed
     */
    MemorySegment segment();

    /**
     * Reads a long at {@code offset} of the pinned allocation.
     *
     * @param offset byte offset in the allocation
     * @return the value
     * @throws IndexOutOfBoundsException if {@code [offset, offset + 8)} is not inside the allocation
     * @throws IllegalStateException if the pin is closed
     */
    long getLong(long offset);

    /**
     * Writes a long at {@code offset} of the pinned allocation.
     *
     * @param offset byte offset in the allocation
     * @param value the value
     * @throws IndexOutOfBoundsException if {@code [offset, offset + 8)} is not inside the allocation
     * @throws IllegalStateException if the pin is closed
     */
    void setLong(long offset, long value);

    /**
     * Reads an int at {@code offset} of the pinned allocation.
     *
     * @param offset byte offset in the allocation
     * @return the value
     * @throws IndexOutOfBoundsException if {@code [offset, offset + 4)} is not inside the allocation
     * @throws IllegalStateException if the pin is closed
     */
    int getInt(long offset);

    /**
     * Writes an int at {@code offset} of the pinned allocation.
     *
     * @param offset byte offset in the allocation
     * @param value the value
     * @throws IndexOutOfBoundsException if {@code [offset, offset + 4)} is not inside the allocation
     * @throws IllegalStateException if the pin is closed
     */
    void setInt(long offset, int value);

    /**
     * Reads a byte at {@code offset} of the pinned allocation.
     *
     * @param offset byte offset in the allocation
     * @return the value
     * @throws IndexOutOfBoundsException if {@code offset} is not inside the allocation
     * @throws IllegalStateException if the pin is closed
     */
    byte getByte(long offset);

    /**
     * Writes a byte at {@code offset} of the pinned allocation.
     *
     * @param offset byte offset in the allocation
     * @param value the value
     * @throws IndexOutOfBoundsException if {@code offset} is not inside the allocation
     * @throws IllegalStateException if the pin is closed
     */
    void setByte(long offset, byte value);

    /**
     * Copies {@code bytes} from {@code src} into the pinned allocation at {@code offset}.
     *
     * @param src       the source
     * @param srcOffset offset in {@code src}
     * @param offset    byte offset in the allocation
     * @param bytes     how many bytes
     * @throws IndexOutOfBoundsException if {@code [offset, offset + bytes)} is not inside the allocation, or the
     *                                   source range is not inside {@code src}
     * @throws IllegalStateException if the pin is closed, or {@code src}'s scope is not alive
     */
    void copyFrom(MemorySegment src, long srcOffset, long offset, long bytes);

    /**
     * Copies {@code bytes} of the pinned allocation at {@code offset} into {@code dst}.
     *
     * @param offset    byte offset in the allocation
     * @param dst       the destination (not read-only)
     * @param dstOffset offset in {@code dst}
     * @param bytes     how many bytes
     * @throws IndexOutOfBoundsException if {@code [offset, offset + bytes)} is not inside the allocation, or the
     *                                   destination range is not inside {@code dst}
     * @throws IllegalStateException if the pin is closed, or {@code dst}'s scope is not alive
     * @throws IllegalArgumentException if {@code dst} is read-only
     */
    void copyTo(long offset, MemorySegment dst, long dstOffset, long bytes);

    /**
     * Releases the pin; the allocation may move again. A second call does nothing.
     *
     * @throws IllegalStateException at {@link LeakDetection#PARANOID}, if an operation (blocking I/O) is using
     *                               the pin's segment: the pin stays open
     */
    @Override
    void close();
}
