package http2

import (
	"encoding/binary"

	wire "golang.org/x/net/http2"
)

// Frames are appended to the connection's write buffer in wire form (RFC
// 9113 section 4.1): a 9-byte header, then the payload.

const frameHeaderLen = 9

func appendFrameHeader(b []byte, length int, t wire.FrameType, flags wire.Flags, id uint32) []byte {
	return append(b, byte(length>>16), byte(length>>8), byte(length), byte(t), byte(flags),
		byte(id>>24)&0x7f, byte(id>>16), byte(id>>8), byte(id))
}

func appendSettings(b []byte, settings ...wire.Setting) []byte {
	b = appendFrameHeader(b, 6*len(settings), wire.FrameSettings, 0, 0)
	for _, s := range settings {
		b = binary.BigEndian.AppendUint16(b, uint16(s.ID))
		b = binary.BigEndian.AppendUint32(b, s.Val)
	}
	return b
}

func appendSettingsAck(b []byte) []byte {
	return appendFrameHeader(b, 0, wire.FrameSettings, wire.FlagSettingsAck, 0)
}

func appendPingAck(b []byte, data [8]byte) []byte {
	b = appendFrameHeader(b, 8, wire.FramePing, wire.FlagPingAck, 0)
	return append(b, data[:]...)
}

func appendWindowUpdate(b []byte, id, incr uint32) []byte {
	b = appendFrameHeader(b, 4, wire.FrameWindowUpdate, 0, id)
	return binary.BigEndian.AppendUint32(b, incr&0x7fffffff)
}

func appendRSTStream(b []byte, id uint32, code wire.ErrCode) []byte {
	b = appendFrameHeader(b, 4, wire.FrameRSTStream, 0, id)
	return binary.BigEndian.AppendUint32(b, uint32(code))
}

func appendGoAway(b []byte, last uint32, code wire.ErrCode, debug string) []byte {
	b = appendFrameHeader(b, 8+len(debug), wire.FrameGoAway, 0, 0)
	b = binary.BigEndian.AppendUint32(b, last&0x7fffffff)
	b = binary.BigEndian.AppendUint32(b, uint32(code))
	return append(b, debug...)
}

func appendData(b []byte, id uint32, p []byte, end bool) []byte {
	var flags wire.Flags
	if end {
		flags = wire.FlagDataEndStream
	}
	b = appendFrameHeader(b, len(p), wire.FrameData, flags, id)
	return append(b, p...)
}

// appendHeaderBlock frames an encoded header block as HEADERS and, past
// max bytes, CONTINUATION frames.
func appendHeaderBlock(b []byte, id uint32, block []byte, end bool, max int) []byte {
	first := true
	for {
		n := min(len(block), max)
		var flags wire.Flags
		t := wire.FrameContinuation
		if first {
			t = wire.FrameHeaders
			if end {
				flags |= wire.FlagHeadersEndStream
			}
		}
		if n == len(block) {
			flags |= wire.FlagHeadersEndHeaders
		}
		b = appendFrameHeader(b, n, t, flags, id)
		b = append(b, block[:n]...)
		block = block[n:]
		first = false
		if len(block) == 0 {
			return b
		}
	}
}
