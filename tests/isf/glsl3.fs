/*{
    "DESCRIPTION": "Test generator already written for GLSL 3.30: its own #version and out",
    "INPUTS": [{"NAME": "speed", "TYPE": "float", "MIN": 0.0, "MAX": 4.0}]
}*/
#version 330 core
out vec4 fragColor;

void main() {
    vec2 p = gl_FragCoord.xy / RENDERSIZE;
    fragColor = vec4(p, 0.5 + 0.5 * sin(TIME * speed), 1.0);
}
