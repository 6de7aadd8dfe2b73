/// Names and versions the server announces.
public enum ServerInfo {
  public static let name = "usagectx"
  public static let version = "0.1.0"
  /// Version of the method/notification contract in `protocol/usagectx.openrpc.json`.
  public static let protocolVersion = "1.0"
}
