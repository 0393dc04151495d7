package datafile

import "encoding/binary"

// Version-1 record layout (little endian), read but no longer written:
//
//	+----------+------------+-------+---------+---------+-----+--------+-----+-------+
//	| checksum | header sum | flags | key len | val len | seq | expiry | key | value |
//	| u32      | u32        | u8    | u32     | u32     | u64 | i64    |     |       |
//	+----------+------------+-------+---------+---------+-----+--------+-----+-------+
//
// header sum = low 32 bits of xxhash64(bytes 8..32). See FORMAT.md.

func parseHeaderV1(b []byte, sum bool) (Header, hdrStatus) {
	if len(b) < RecordHeaderSize {
		return Header{}, hdrShort
	}
	h := Header{
		Checksum:  binary.LittleEndian.Uint32(b[0:]),
		HeaderSum: binary.LittleEndian.Uint32(b[4:]),
		Flags:     b[8],
		KeyLen:    binary.LittleEndian.Uint32(b[9:]),
		ValLen:    binary.LittleEndian.Uint32(b[13:]),
		Seq:       binary.LittleEndian.Uint64(b[17:]),
		Expiry:    int64(binary.LittleEndian.Uint64(b[25:])),
		Len:       RecordHeaderSize,
	}
	if sum && h.HeaderSum != checksum(b[8:RecordHeaderSize]) {
		return Header{}, hdrBad
	}
	return h, hdrOK
}
