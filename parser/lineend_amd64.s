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
