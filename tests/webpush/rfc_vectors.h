// Test vectors from RFC 8291 (§5 and Appendix A), RFC 8188 (§3.1, §3.2) and RFC 8292 (§2.4),
// as transcribed in shared/vectors/webpush-rfc-vectors.txt. base64url, unpadded.
#pragma once

namespace flashwire::webpush::rfc {

// RFC 8291 Appendix A.
inline constexpr char kPlaintext[] = "When I grow up, I want to be a watermelon";
inline constexpr char kAsPublic[] =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
inline constexpr char kAsPrivate[] = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
inline constexpr char kUaPublic[] =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
inline constexpr char kUaPrivate[] = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
inline constexpr char kSalt[] = "DGv6ra1nlYgDCS1FRnbzlw";
inline constexpr char kAuthSecret[] = "BTBZMqHH6r4Tts7J_aSIgg";
inline constexpr char kEcdhSecret[] = "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs";
inline constexpr char kPrkKey[] = "Snr3JMxaHVDXHWJn5wdC52WjpCtd2EIEGBykDcZW32k";
inline constexpr char kKeyInfo[] =
    "V2ViUHVzaDogaW5mbwAEJXGyvs3942BVGq8e0PTNNmwRzr5VX4m8t7GGpTM5FzFo7OLr4BhZe9MEebhuPI-OztV3"
    "ylkYfpJGmQ22ggCLDgT-M_SrDepxkU21WCP3O1SUj0EwbZIHMtu5pZpTKGSCIA5Zent7wmC6HCJ5mFgJkuk5cwAv"
    "MBKiiujwa7t45ewP";
inline constexpr char kIkm[] = "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg";
inline constexpr char kPrk[] = "09_eUZGrsvxChDCGRCdkLiDXrReGOEVeSCdCcPBSJSc";
inline constexpr char kCek[] = "oIhVW04MRdy2XN9CiKLxTg";
inline constexpr char kNonce[] = "4h_95klXJ5E_qnoN";
inline constexpr char kHeader[] =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_"
    "c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6Tlz"
    "AC8wEqKK6PBru3jl7A8";
inline constexpr char kCiphertext[] =
    "8pfeW0KbunFT06SuDKoJH9Ql87S1QUrdirN6GcG7sFz1y1sqLgVi1VhjVkHsUoEsbI_0LpXMuGvnzQ";
inline constexpr char kBody[] =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_"
    "c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6Tlz"
    "AC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-"
    "fN";

// RFC 8188 §3.1: one record, rs 4096, empty keyid.
inline constexpr char k8188Plaintext[] = "I am the walrus";
inline constexpr char k8188SingleIkm[] = "yqdlZ-tYemfogSmv7Ws5PQ";
inline constexpr char k8188SingleSalt[] = "I1BsxtFttlv3u_Oo94xnmw";
inline constexpr char k8188SingleBody[] =
    "I1BsxtFttlv3u_Oo94xnmwAAEAAA-NAVub2qFgBEuQKRapoZu-IxkIva3MEB1PD-ly8Thjg";
// RFC 8188 §3.2: two records, rs 25, keyid "a1", one byte of padding in the first.
inline constexpr char k8188MultiIkm[] = "BO3ZVPxUlnLORbVGMpbT1Q";
inline constexpr char k8188MultiBody[] =
    "uNCkWiNYzKTnBN9ji3-qWAAAABkCYTHOG8chz_"
    "gnvgOqdGYovxyjuqRyJFjEDyoF1Fvkj6hQPdPHI51OEUKEpgz3SsLWIqS_uA";

// RFC 8292 §2.4: a token whose exp (1453523768) is long past.
inline constexpr char kVapidToken[] =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9."
    "eyJhdWQiOiJodHRwczovL3B1c2guZXhhbXBsZS5uZXQiLCJleHAiOjE0NTM1MjM3NjgsInN1YiI6Im1haWx0bzpwdXNoQG"
    "V4YW1wbGUuY29tIn0."
    "i3CYb7t4xfxCDquptFOepC9GAu_HLGkMlMuCGSK2rpiUfnK9ojFwDXb1JrErtmysazNjjvW2L9OkSSHzvoD1oA";
inline constexpr char kVapidKey[] =
    "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs";
inline constexpr char kVapidAudience[] = "https://push.example.net";
inline constexpr long long kVapidExp = 1453523768;

}  // namespace flashwire::webpush::rfc
