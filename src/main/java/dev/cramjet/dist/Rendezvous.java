package dev.cramjet.dist;

import dev.cramjet.CramjetException;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Hands a few bytes from rank 0 to every rank over TCP — NCCL's unique id, as torchrun's store does — before NCCL
 * takes over. Rank 0 listens on MASTER_PORT (all interfaces); the others connect to MASTER_ADDR:MASTER_PORT,
 * retrying while rank 0 is not up yet, and say who they are ({@code cramjet-rendezvous 1}, world size, rank).
 * Once every rank has joined, rank 0 sends each the payload. Nothing waits forever: a rank that does not join,
 * joins twice or with another world size is named in the error, on rank 0 and, as far as they can tell, on the
 * others.
 */
public final class Rendezvous {
    private static final String HELLO = "cramjet-rendezvous 1";

    private Rendezvous() {}

    /**
     * Rank 0 sends {@code payload} (others pass anything; they receive rank 0's). Blocks until every rank has it, or
     * throws once {@code timeoutSeconds} have passed.
     */
    public static byte[] share(String host, int port, int rank, int size, byte[] payload, double timeoutSeconds) {
        long deadline = System.nanoTime() + (long) (timeoutSeconds * 1e9);
        try {
            return rank == 0 ? serve(port, size, payload, deadline, timeoutSeconds) : join(host, port, rank, size, deadline, timeoutSeconds);
        } catch (IOException e) {
            throw new CramjetException("rank " + rank + ": rendezvous at " + host + ":" + port + " failed: " + e.getMessage());
        }
    }

    private static int remainingMillis(long deadline) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, (deadline - System.nanoTime()) / 1_000_000));
    }

    private static byte[] serve(int port, int size, byte[] payload, long deadline, double timeout) throws IOException {
        List<Socket> joined = new ArrayList<>();
        TreeSet<Integer> missing = new TreeSet<>();
        for (int r = 1; r < size; r++) missing.add(r);
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            try {
                server.bind(new InetSocketAddress(port));
            } catch (IOException e) {
                throw new IOException("rank 0 cannot listen on port " + port + " (" + e.getMessage() + "): set MASTER_PORT to a free port");
            }
            while (!missing.isEmpty()) {
                if (System.nanoTime() >= deadline) {
                    throw new IOException("rank" + (missing.size() > 1 ? "s " : " ") + list(missing) + " of " + size
                            + " did not join within " + Math.round(timeout) + " s (not started, crashed, or pointed at another MASTER_ADDR:MASTER_PORT)");
                }
                server.setSoTimeout(remainingMillis(deadline));
                Socket s;
                try {
                    s = server.accept();
                } catch (SocketTimeoutException e) {
                    continue;
                }
                s.setSoTimeout(remainingMillis(deadline));
                DataInputStream in = new DataInputStream(s.getInputStream());
                String hello = in.readUTF();
                int theirSize = in.readInt(), theirRank = in.readInt();
                String problem = !hello.equals(HELLO) ? "a client that is not a Cramjet rank (" + hello + ")"
                        : theirSize != size ? "rank " + theirRank + " with world size " + theirSize + " (rank 0 has " + size + ")"
                        : !missing.contains(theirRank) ? "rank " + theirRank + (theirRank > 0 && theirRank < size ? " twice" : ", outside [1, " + size + ")")
                        : null;
                if (problem != null) {
                    reply(s, "refused: " + problem, null);
                    s.close();
                    throw new IOException("refused " + problem + ": every rank must have the same WORLD_SIZE and its own RANK");
                }
                missing.remove(theirRank);
                joined.add(s);
            }
            for (Socket s : joined) reply(s, "ok", payload);
            return payload;
        } finally {
            for (Socket s : joined) s.close();
        }
    }

    private static void reply(Socket s, String status, byte[] payload) throws IOException {
        DataOutputStream out = new DataOutputStream(s.getOutputStream());
        out.writeUTF(status);
        if (payload != null) {
            out.writeInt(payload.length);
            out.write(payload);
        }
        out.flush();
    }

    private static byte[] join(String host, int port, int rank, int size, long deadline, double timeout) throws IOException {
        String lastError = "no answer";
        while (System.nanoTime() < deadline) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, port), Math.min(remainingMillis(deadline), 5000));
                s.setSoTimeout(remainingMillis(deadline));
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                out.writeUTF(HELLO);
                out.writeInt(size);
                out.writeInt(rank);
                out.flush();
                DataInputStream in = new DataInputStream(s.getInputStream());
                String status = in.readUTF();
                if (!status.equals("ok")) throw new CramjetException("rank " + rank + ": rank 0 " + status);
                byte[] payload = new byte[in.readInt()];
                in.readFully(payload);
                return payload;
            } catch (SocketTimeoutException e) {
                lastError = "rank 0 accepted the connection but did not answer (it waits for the other ranks)";
            } catch (IOException e) {
                lastError = e.getMessage();
                try {
                    Thread.sleep(Math.min(200, remainingMillis(deadline)));
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted");
                }
            }
        }
        throw new IOException("rank 0 did not hand out the id within " + Math.round(timeout) + " s (last: " + lastError
                + "); is rank 0 running, and are MASTER_ADDR and MASTER_PORT its address and a free port?");
    }

    private static String list(TreeSet<Integer> ranks) {
        StringBuilder sb = new StringBuilder();
        for (int r : ranks) sb.append(sb.isEmpty() ? "" : ", ").append(r);
        return sb.toString();
    }
}
