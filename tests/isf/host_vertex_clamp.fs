/*{
    "DESCRIPTION": "Host test: a varying the .vs clamps per vertex, shown as red and green"
}*/

varying vec2 clamped;

void main() { gl_FragColor = vec4(clamped, 0.0, 1.0); }
