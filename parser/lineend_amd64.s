#include "textflag.h"

// bytes<> holds each byte value below 128 at its own offset, for the
// kernels to broadcast their constants from memory (VPBROADCASTB
// bytes<>+'\n'). Moving them in through general registers (MOVQ AX, X1;
// VPBROADCASTB X1, Y1, and again for the next) put a legacy SSE
// instruction after a 256-bit one before any VZEROUPPER: on the Sapphire
// Rapids VM this project has been measured on since December 2026, each
// such move costs ~120 ns (on the AMD EPYC VM before it, nothing special).
// noiseLinesAVX2's seven made a call 850 ns against 4 ns now; paid once
// for each line the kernel cannot rule out (and again in lineEndAVX2 and
// pairsAVX2), they were most of a scan's CPU. BenchmarkSplitCandidates:
// 0.97 GB/s before, 5.0 GB/s after.
DATA bytes<>+0(SB)/8, $0x0706050403020100
DATA bytes<>+8(SB)/8, $0x0f0e0d0c0b0a0908
DATA bytes<>+16(SB)/8, $0x1716151413121110
DATA bytes<>+24(SB)/8, $0x1f1e1d1c1b1a1918
DATA bytes<>+32(SB)/8, $0x2726252423222120
DATA bytes<>+40(SB)/8, $0x2f2e2d2c2b2a2928
DATA bytes<>+48(SB)/8, $0x3736353433323130
DATA bytes<>+56(SB)/8, $0x3f3e3d3c3b3a3938
DATA bytes<>+64(SB)/8, $0x4746454443424140
DATA bytes<>+72(SB)/8, $0x4f4e4d4c4b4a4948
DATA bytes<>+80(SB)/8, $0x5756555453525150
DATA bytes<>+88(SB)/8, $0x5f5e5d5c5b5a5958
DATA bytes<>+96(SB)/8, $0x6766656463626160
DATA bytes<>+104(SB)/8, $0x6f6e6d6c6b6a6968
DATA bytes<>+112(SB)/8, $0x7776757473727170
DATA bytes<>+120(SB)/8, $0x7f7e7d7c7b7a7978
GLOBL bytes<>(SB), RODATA|NOPTR, $128

// func lineEndAVX2(b []byte, c byte) (end int, has bool)
TEXT ·lineEndAVX2(SB), NOSPLIT, $0-41
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), BX
	MOVBLZX c+24(FP), AX
	XORQ DI, DI                // offset
	XORL R9, R9                // c seen
	VPBROADCASTB c+24(FP), Y1 // c
	VPBROADCASTB bytes<>+10(SB), Y2 // '\n'

loop:
	LEAQ 32(DI), R8
	CMPQ R8, BX
	JA   tail
	VMOVDQU (SI)(DI*1), Y3
	VPCMPEQB Y3, Y2, Y4
	VPCMPEQB Y3, Y1, Y5
	VPMOVMSKB Y4, R10
	VPMOVMSKB Y5, R11
	TESTL R10, R10
	JNZ  found
	ORL  R11, R9
	MOVQ R8, DI
	JMP  loop

found:
	// Only the c bytes before the newline count.
	BSFL R10, CX
	MOVL $1, R12
	SHLL CX, R12
	DECL R12
	ANDL R12, R11
	ORL  R11, R9
	ADDQ CX, DI
	JMP  done

tail:
	// Fewer than 32 bytes left: one at a time, never past the end.
	CMPQ DI, BX
	JAE  done
	MOVBLZX (SI)(DI*1), R10
	CMPL R10, $10
	JEQ  done
	CMPL R10, AX
	JNE  next
	MOVL $1, R9
next:
	INCQ DI
	JMP  tail

done:
	VZEROUPPER
	MOVQ DI, end+32(FP)
	TESTL R9, R9
	SETNE has+40(FP)
	RET

// func pairsAVX2(b []byte) bool
TEXT ·pairsAVX2(SB), NOSPLIT, $0-25
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), BX
	XORQ DI, DI                // offset of the first pair not yet looked at
	MOVQ $-1, R9               // DI of the last step, once it is known
	VPBROADCASTB bytes<>+107(SB), Y1 // 'k'
	VPBROADCASTB bytes<>+101(SB), Y2 // 'e'
	VPBROADCASTB bytes<>+65(SB), Y3 // 'A'
	VPBROADCASTB bytes<>+117(SB), Y4 // 'u'

loop:
	// The pairs starting at DI..DI+31: their second bytes run to DI+32.
	LEAQ 33(DI), R8
	CMPQ R8, BX
	JA   last

step:
	VMOVDQU (SI)(DI*1), Y5
	VMOVDQU 1(SI)(DI*1), Y6
	VPCMPEQB Y5, Y1, Y7
	VPCMPEQB Y6, Y2, Y8
	VPAND    Y7, Y8, Y7
	VPCMPEQB Y5, Y3, Y9
	VPCMPEQB Y6, Y4, Y10
	VPAND    Y9, Y10, Y9
	VPOR     Y7, Y9, Y7
	VPTEST   Y7, Y7
	JNZ  yes
	CMPQ DI, R9
	JEQ  no                    // that was the last step
	ADDQ $32, DI
	JMP  loop

last:
	// Fewer than 33 bytes left. With 33 or more in all, one step over the
	// last 33 looks again at some pairs (harmless: any one will do) and
	// never past the end; shorter inputs go a byte at a time.
	CMPQ BX, $33
	JB   short
	LEAQ -33(BX), DI
	MOVQ DI, R9
	JMP  step

short:
	LEAQ 1(DI), R8
	CMPQ R8, BX
	JAE  no
	MOVBLZX (SI)(DI*1), R10
	MOVBLZX 1(SI)(DI*1), R11
	CMPL R10, $0x6b
	JNE  shortA
	CMPL R11, $0x65
	JEQ  yes

shortA:
	CMPL R10, $0x41
	JNE  shortNext
	CMPL R11, $0x75
	JEQ  yes

shortNext:
	INCQ DI
	JMP  short

yes:
	VZEROUPPER
	MOVB $1, ret+24(FP)
	RET

no:
	VZEROUPPER
	MOVB $0, ret+24(FP)
	RET

// oidc<> is OpenIDConnectIdP's logger name, which every refusal's and grace
// reuse's line holds; its last byte, 'P', is what noiseLinesAVX2 looks for.
DATA oidc<>+0(SB)/8, $"OpenIDCo"
DATA oidc<>+8(SB)/8, $"nnectIdP"
GLOBL oidc<>(SB), RODATA|NOPTR, $16

// PBYTES goes through the 'P' bytes of the line in CX (a mask of the chunk
// at R8): one that ends "OpenIDConnectIdP" inside the line (which starts
// at DI) ends the walk; any other is remembered in R9 (a line ending in
// ']' with a 'P' is classifyFirst's to read). Clobbers AX, DX, X13. It
// is expanded twice, where labels of its own would clash, so its jumps
// count instructions (n(PC)): JB skips to the LEAL that clears the 'P',
// and the last JMP goes back to the JZ, which reads ANDL's flags.
#define PBYTES(next) \
	TESTL CX, CX \
	JZ    next \
	MOVL  $1, R9 \
	BSFL  CX, DX \
	LEAQ  -15(R8)(DX*1), AX \
	CMPQ  AX, DI \
	JB    6(PC) \
	VMOVDQU (SI)(AX*1), X13 \
	VPCMPEQB X13, X14, X13 \
	VPMOVMSKB X13, AX \
	CMPL  AX, $0xffff \
	JEQ   done \
	LEAL  -1(CX), AX \
	ANDL  AX, CX \
	JMP   -13(PC)

// func noiseLinesAVX2(b []byte) (skipped, lines, last int)
//
// Walks b a line at a time from its first byte while each line is noise by
// classifyFirst's first tests (see noiseLines). A line's stamp is checked
// first; one pass 32 bytes at a time then finds its end, stops at
// OpenIDConnectIdP's name and sums the masks of its '[' bytes; only a line
// ending in ']' is read a second time, for the pairs "Au" and "ke" past
// its stamp. A line ending otherwise that holds a '[' past the two of its
// stamp and thread may be an access line cut short, "[Az…" or "[Au…":
// classifyFirst's to read. It stops at the first line it cannot rule out,
// and where a load would need bytes past b's end (it never loads past it).
TEXT ·noiseLinesAVX2(SB), NOSPLIT, $0-48
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), BX
	XORQ DI, DI                // start of the line being read
	XORQ R11, R11              // lines skipped
	XORQ R12, R12              // start of the last line skipped
	VPBROADCASTB bytes<>+10(SB), Y0 // '\n'
	VPBROADCASTB bytes<>+80(SB), Y1 // 'P'
	VPBROADCASTB bytes<>+65(SB), Y2 // 'A'
	VPBROADCASTB bytes<>+117(SB), Y3 // 'u'
	VPBROADCASTB bytes<>+107(SB), Y4 // 'k'
	VPBROADCASTB bytes<>+101(SB), Y5 // 'e'
	VPBROADCASTB bytes<>+91(SB), Y15 // '['
	VMOVDQU oidc<>(SB), X14

line:
	LEAQ 32(DI), AX
	CMPQ AX, BX
	JA   done
	// IsRecordStart: "[dddd-"; isLog4jShape: ']' and '[' at 24 and 25.
	MOVBLZX (SI)(DI*1), AX
	CMPL AX, $0x5b
	JNE  done
	MOVBLZX 1(SI)(DI*1), AX
	SUBL $0x30, AX
	CMPL AX, $9
	JA   done
	MOVBLZX 2(SI)(DI*1), AX
	SUBL $0x30, AX
	CMPL AX, $9
	JA   done
	MOVBLZX 3(SI)(DI*1), AX
	SUBL $0x30, AX
	CMPL AX, $9
	JA   done
	MOVBLZX 4(SI)(DI*1), AX
	SUBL $0x30, AX
	CMPL AX, $9
	JA   done
	MOVBLZX 5(SI)(DI*1), AX
	CMPL AX, $0x2d
	JNE  done
	MOVBLZX 24(SI)(DI*1), AX
	CMPL AX, $0x5d
	JNE  done
	MOVBLZX 25(SI)(DI*1), AX
	CMPL AX, $0x5b
	JNE  done
	MOVQ DI, R8                // the chunk's offset
	XORL R9, R9                // the line holds a 'P'
	XORL R13, R13              // the sum of the line's '[' masks (see lastByte)
	// A chunk is read only if it ends within b and starts at most 4 KB
	// past the line's start (a long line is left to the careful walk):
	// one bound for both, R14, so that a chunk pays one test, which pays
	// for the '[' bytes' compare and add.
	LEAQ 4128(DI), R14
	CMPQ R14, BX
	CMOVQHI BX, R14

chunk:
	LEAQ 32(R8), AX
	CMPQ AX, R14
	JA   done
	VMOVDQU (SI)(R8*1), Y6
	VPCMPEQB Y6, Y0, Y8
	VPCMPEQB Y6, Y1, Y9
	VPCMPEQB Y6, Y15, Y10
	VPMOVMSKB Y8, R10          // newlines
	VPMOVMSKB Y9, CX           // 'P'
	VPMOVMSKB Y10, R15         // '['
	TESTL R10, R10
	JNZ  eol
	ADDQ R15, R13
	PBYTES(nextChunk)

nextChunk:
	ADDQ $32, R8
	JMP  chunk

eol:
	// Only the 'P' and '[' bytes before the first newline are the line's.
	LEAL -1(R10), AX
	ANDL AX, CX
	ANDL AX, R15
	ADDQ R15, R13
	PBYTES(ended)

ended:
	BSFL R10, R10
	LEAQ (R8)(R10*1), R15      // the newline's offset: the line is DI..R15
	MOVQ R15, AX
	SUBQ DI, AX
	CMPQ AX, $27               // a stamp and more, a '\r' off
	JB   done
	MOVBLZX -1(SI)(R15*1), AX  // the last byte, without a '\r'
	CMPL AX, $0x0d
	JNE  lastByte
	MOVBLZX -2(SI)(R15*1), AX

lastByte:
	CMPL AX, $0x5d
	JEQ  closed
	// No "[IP] - [SESSION]" trailer: noise, unless a '[' past the stamp's
	// and the thread's may open an access line's tag. The first chunk's
	// mask holds those two (bits 0 and 25), and every mask is positive:
	// the sum of the masks is more than the two bits when, and only when,
	// the line holds another '[': one add a chunk, where a count of the
	// bytes would cost a popcount too.
	CMPQ R13, $0x02000001
	JA   done
	JMP  noise

closed:
	TESTL R9, R9
	JNZ  done

	// "[AuSuccess]" or ".../token" past the stamp? Pairs starting at
	// DI+25 up to the newline's offset - 2 (the last pair ends before it).
	LEAQ 25(DI), R8

pairs:
	LEAQ 33(R8), AX
	CMPQ AX, BX
	JA   done
	VMOVDQU (SI)(R8*1), Y6
	VMOVDQU 1(SI)(R8*1), Y7
	VPCMPEQB Y6, Y2, Y10
	VPCMPEQB Y7, Y3, Y11
	VPAND    Y10, Y11, Y10
	VPCMPEQB Y6, Y4, Y11
	VPCMPEQB Y7, Y5, Y12
	VPAND    Y11, Y12, Y11
	VPOR     Y10, Y11, Y10
	VPMOVMSKB Y10, DX          // pairs, by their first byte
	MOVQ R15, CX
	SUBQ R8, CX
	DECQ CX                    // pairs that end before the newline
	CMPQ CX, $32
	JAE  whole
	MOVL $1, R14
	SHLL CX, R14
	DECL R14
	ANDL R14, DX
	TESTL DX, DX
	JNZ  done
	JMP  noise

whole:
	TESTL DX, DX
	JNZ  done
	ADDQ $32, R8
	JMP  pairs

noise:
	INCQ R11
	MOVQ DI, R12
	LEAQ 1(R15), DI
	JMP  line

done:
	VZEROUPPER
	MOVQ DI, skipped+24(FP)
	MOVQ R11, lines+32(FP)
	MOVQ R12, last+40(FP)
	RET
