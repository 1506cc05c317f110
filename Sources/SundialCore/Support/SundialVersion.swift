/// The version `sundial --version` prints, `sundial_build_info` carries and alerts send.
public enum SundialVersion {
    public static let current = "0.1.0"
}
