/*{
    "DESCRIPTION": "A filter written in GLSL 1.x style (gl_FragColor, texture2D, varying)",
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image"},
        {"NAME": "amount", "TYPE": "float", "MIN": 0.0, "MAX": 0.05, "DEFAULT": 0.01}
    ]
}*/
#version 120

uniform sampler2D inputImage;
varying vec2 isf_FragNormCoord;

void main() {
    vec2 uv = vv_FragNormCoord;
    float r = texture2D(inputImage, uv + vec2(amount, 0.0)).r;
    float g = texture2D(inputImage, uv).g;
    float b = texture2DRect(inputImage, uv - vec2(amount, 0.0)).b;
    gl_FragColor = vec4(r, g, b, 1.0);
}
