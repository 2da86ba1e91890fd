#include "textflag.h"

// func lineEndAVX2(b []byte, c byte) (end int, has bool)
TEXT ·lineEndAVX2(SB), NOSPLIT, $0-41
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), BX
	MOVBLZX c+24(FP), AX
	XORQ DI, DI                // offset
	XORL R9, R9                // c seen
	MOVQ AX, X1
	VPBROADCASTB X1, Y1        // c in every byte
	MOVQ $10, DX
	MOVQ DX, X2
	VPBROADCASTB X2, Y2        // '\n' in every byte

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
	MOVQ $0x6b, AX             // 'k'
	MOVQ AX, X1
	VPBROADCASTB X1, Y1
	MOVQ $0x65, AX             // 'e'
	MOVQ AX, X2
	VPBROADCASTB X2, Y2
	MOVQ $0x41, AX             // 'A'
	MOVQ AX, X3
	VPBROADCASTB X3, Y3
	MOVQ $0x75, AX             // 'u'
	MOVQ AX, X4
	VPBROADCASTB X4, Y4

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
