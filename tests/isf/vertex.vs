varying vec2 left_coord;
varying vec2 right_coord;

void main() {
    isf_vertShaderInit();
    left_coord = isf_FragNormCoord - vec2(spread, 0.0);
    right_coord = isf_FragNormCoord + vec2(spread, 0.0);
}
