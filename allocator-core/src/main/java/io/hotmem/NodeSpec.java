package io.hotmem;

/**
 * What a node is made of: its size, whether it is hot-removable, the size of its MOVABLE zone (fixed nodes only)
 * and the state it starts in. Immutable; every modifier returns a new spec.
 *
 * <p>A hot-removable node has one MOVABLE zone covering the whole node. A fixed node has a NORMAL zone and, when
 * {@link #movableBytes(long)} asks for one, a MOVABLE zone of that size after it.
 */
public final class NodeSpec {
    private final long bytes;
    private final boolean hotRemovable;
    private final long movableBytes;
    private final NodeState initialState;

    private NodeSpec(long bytes, boolean hotRemovable, long movableBytes, NodeState initialState) {
        this.bytes = bytes;
        this.hotRemovable = hotRemovable;
        this.movableBytes = movableBytes;
        this.initialState = initialState;
    }

    /**
     * A fixed (not hot-removable) node of {@code bytes}, a multiple of the allocator's page size.
     *
     * @param bytes node size in bytes, positive
     * @return the spec, starting ENABLED
     * @throws IllegalArgumentException if {@code bytes <= 0}
     */
    public static NodeSpec fixed(long bytes) {
        return new NodeSpec(checkSize(bytes), false, 0, NodeState.ENABLED);
    }

    /**
     * A hot-removable node of {@code bytes}: one MOVABLE zone, so it can always be drained and unplugged.
     *
     * @param bytes node size in bytes, positive
     * @return the spec, starting ENABLED
     * @throws IllegalArgumentException if {@code bytes <= 0}
     */
    public static NodeSpec hotRemovable(long bytes) {
        return new NodeSpec(checkSize(bytes), true, bytes, NodeState.ENABLED);
    }

    /**
     * Gives a fixed node a MOVABLE zone of {@code movableBytes} (the rest stays NORMAL).
     *
     * @param movableBytes size of the MOVABLE zone, positive and smaller than the node
     * @return the new spec
     * @throws IllegalArgumentException if this is a hot-removable node (it is all MOVABLE already) or the size
     *         is out of range
     */
    public NodeSpec movableBytes(long movableBytes) {
        if (hotRemovable) {
            throw new IllegalArgumentException(
                    "movableBytes(" + movableBytes + "): a hot-removable node is one MOVABLE zone already");
        }
        if (movableBytes <= 0 || movableBytes >= bytes) {
            throw new IllegalArgumentException(
                    "movableBytes " + movableBytes + " out of range: must be > 0 and < node size " + bytes);
        }
        return new NodeSpec(bytes, false, movableBytes, initialState);
    }

    /**
     * Returns a spec whose node starts UNPLUGGED (no memory until {@code plug}).
     *
     * @return a spec whose node starts UNPLUGGED (no memory until {@code plug})
     */
    public NodeSpec startUnplugged() {
        return new NodeSpec(bytes, hotRemovable, movableBytes, NodeState.UNPLUGGED);
    }

    /**
     * Returns a spec whose node starts plugged but DISABLED (no allocation until {@code enable}).
     *
     * @return a spec whose node starts plugged but DISABLED (no allocation until {@code enable})
     */
    public NodeSpec startDisabled() {
        return new NodeSpec(bytes, hotRemovable, movableBytes, NodeState.DISABLED);
    }

    /**
     * Returns the node size in bytes.
     *
     * @return the node size in bytes
     */
    public long bytes() {
        return bytes;
    }

    /**
     * Returns true for a hot-removable node.
     *
     * @return true for a hot-removable node
     */
    public boolean hotRemovable() {
        return hotRemovable;
    }

    /**
     * Returns the MOVABLE zone's size in bytes (the whole node when hot-removable, 0 when there is none).
     *
     * @return the MOVABLE zone's size in bytes (the whole node when hot-removable, 0 when there is none)
     */
    public long movableBytes() {
        return movableBytes;
    }

    /**
     * Returns the state the node starts in.
     *
     * @return the state the node starts in
     */
    public NodeState initialState() {
        return initialState;
    }

    private static long checkSize(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("node size " + bytes + " must be positive");
        }
        return bytes;
    }

    @Override
    public String toString() {
        return (hotRemovable ? "hotRemovable(" : "fixed(") + bytes
                + (!hotRemovable && movableBytes > 0 ? ").movableBytes(" + movableBytes : "")
                + ") starting " + initialState.label();
    }
}
