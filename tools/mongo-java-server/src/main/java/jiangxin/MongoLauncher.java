package jiangxin;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Runs mongo-java-server as a standalone process.
 *
 * <pre>
 *   java -jar mongo-launcher.jar [--host 127.0.0.1] [--port 27017]
 *        [--data FILE.mv | --data memory] [--wire-version 8|9|13]
 * </pre>
 *
 * mongo-java-server 1.47.0 advertises maxWireVersion 8 (MongoDB 4.2), but
 * PyMongo 4.20 refuses servers below wire version 9 (MongoDB 4.4). The
 * advertised version is only reported in hello/buildInfo/serverStatus (the
 * backend never branches on it), so by default we advertise 9 / "4.4.0".
 * That changes no server behaviour: features the server lacks still fail
 * with an error, never silently.
 *
 * Prints one line "mongo-java-server ready on HOST:PORT ..." to stdout once it
 * accepts connections. SIGTERM/SIGINT shut it down cleanly: open cursors and
 * connections are closed and the H2 MVStore is committed and closed.
 */
public final class MongoLauncher {

    private MongoLauncher() {
    }

    private static void usage(String error) {
        if (error != null) {
            System.err.println("mongo-launcher: " + error);
        }
        System.err.println("usage: mongo-launcher [--host H] [--port P] [--data FILE.mv|memory]"
            + " [--wire-version 8|9|13]");
        System.exit(2);
    }

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1";
        int port = 27017;
        String data = "memory";
        int wireVersion = 9;

        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("-h") || arg.equals("--help")) {
                usage(null);
            }
            if (i + 1 >= args.length) {
                usage("missing value for " + arg);
            }
            String value = args[++i];
            switch (arg) {
                case "--host" -> host = value;
                case "--port" -> {
                    try {
                        port = Integer.parseInt(value);
                    } catch (NumberFormatException e) {
                        usage("bad port: " + value);
                    }
                    if (port < 1 || port > 65535) {
                        usage("bad port: " + value);
                    }
                }
                case "--data" -> data = value;
                case "--wire-version" -> {
                    switch (value) {
                        case "8", "9", "13" -> wireVersion = Integer.parseInt(value);
                        default -> usage("unsupported wire version: " + value);
                    }
                }
                default -> usage("unknown option: " + arg);
            }
        }

        MongoBackend backend;
        String where;
        if (data.isEmpty() || data.equals("memory")) {
            backend = new MemoryBackend();
            where = "memory";
        } else {
            Path file = Path.of(data).toAbsolutePath();
            Path dir = file.getParent();
            if (dir != null) {
                Files.createDirectories(dir);
            }
            backend = new H2Backend(file.toString());
            where = file.toString();
        }
        MongoVersion version = advertised(wireVersion);
        backend.version(version);

        MongoServer server = new MongoServer(backend);
        try {
            // One worker thread: commands run one at a time, as the backend needs. With
            // Netty's default (two per core), a find could encode a stored document while
            // another connection's update changed it: a ConcurrentModificationException
            // that closes the connection, so the driver pauses its pool and fails the
            // other operations in flight (seen under concurrent sign-ups and cancellations).
            server.bind(new InetSocketAddress(host, port), 1, 1);
        } catch (Exception e) { // netty rethrows a checked BindException undeclared
            System.err.println("mongo-launcher: cannot bind " + host + ":" + port + ": " + e);
            server.shutdownNow(); // stops the event loops and closes the backend
            System.exit(1);
        }

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.shutdown(); // closes the backend too (commits + closes the MVStore)
            } finally {
                stopped.countDown();
            }
        }, "mongo-launcher-shutdown"));

        System.out.println("mongo-java-server ready on " + host + ":" + port
            + " data=" + where + " version=" + version.toVersionString() + " wire=" + wireVersion
            + " pid=" + ProcessHandle.current().pid());
        System.out.flush();
        stopped.await();
    }

    /** The version reported to clients; see the class comment. */
    private static MongoVersion advertised(int wireVersion) {
        List<Integer> array = switch (wireVersion) {
            case 8 -> List.of(4, 2, 0);
            case 9 -> List.of(4, 4, 0);
            case 13 -> List.of(5, 0, 0);
            default -> throw new IllegalArgumentException("wire version " + wireVersion);
        };
        return new MongoVersion() {
            @Override
            public List<Integer> getVersionArray() {
                return array;
            }

            @Override
            public int getWireVersion() {
                return wireVersion;
            }
        };
    }
}
